"""Frequencies and probabilities that make the phantom look like CBIS-DDSM calcification data.

Source of every count below unless noted: the official CBIS-DDSM calcification case-description
CSVs (calc_case_description_train_set.csv + calc_case_description_test_set.csv, TCIA,
doi:10.7937/K9/TCIA.2016.7O02S9CY), 1872 ROIs of 753 patients, train and test pooled.
Compound values (e.g. "PLEOMORPHIC-FINE_LINEAR_BRANCHING") count under their first component;
rare types are folded into the nearest frequent one (see comments).
"""

from __future__ import annotations

# Primary calc type, rows. LUCENT_CENTER includes LUCENT_CENTERED; COARSE includes dystrophic,
# large rodlike, eggshell, skin and milk-of-calcium.
CALC_TYPE_COUNTS: dict[str, int] = {
    "PLEOMORPHIC": 846,
    "AMORPHOUS": 200,
    "PUNCTATE": 191,
    "ROUND_AND_REGULAR": 137,
    "LUCENT_CENTER": 136,
    "COARSE": 130,
    "VASCULAR": 106,
    "FINE_LINEAR_BRANCHING": 102,
}
# Primary calc distribution, rows (439 further rows have "NA").
CALC_DISTRIBUTION_COUNTS: dict[str, int] = {
    "CLUSTERED": 969,
    "SEGMENTAL": 202,
    "LINEAR": 119,
    "REGIONAL": 103,
    "DIFFUSELY_SCATTERED": 40,
}
SUBTLETY_COUNTS: dict[int, int] = {1: 119, 2: 298, 3: 606, 4: 422, 5: 427}
BREAST_DENSITY_COUNTS: dict[int, int] = {1: 199, 2: 616, 3: 654, 4: 401}

# P(malignant | type) and P(malignant | distribution): fraction of MALIGNANT among rows containing
# the value. Types never malignant in the CSVs get a floor so the logit stays finite.
P_MALIGNANT_FLOOR = 0.02
P_MALIGNANT_BY_TYPE: dict[str, float] = {
    "FINE_LINEAR_BRANCHING": 0.81,
    "PLEOMORPHIC": 0.53,
    "AMORPHOUS": 0.37,
    "PUNCTATE": 0.23,
    "ROUND_AND_REGULAR": 0.04,
    "LUCENT_CENTER": P_MALIGNANT_FLOOR,
    "VASCULAR": P_MALIGNANT_FLOOR,
    "COARSE": P_MALIGNANT_FLOOR,
}
P_MALIGNANT_BY_DISTRIBUTION: dict[str, float] = {
    "LINEAR": 0.71,
    "SEGMENTAL": 0.58,
    "CLUSTERED": 0.44,
    "REGIONAL": 0.43,
    "DIFFUSELY_SCATTERED": 0.12,
}
# Malignant fraction among the 1433 rows that name a distribution. Every phantom lesion is drawn
# with a distribution, so its evidence is measured against this baseline, not the overall prior
# (against 0.36 the phantom would be ~44% malignant instead of ~36%).
DISTRIBUTION_BASELINE_MALIGNANT = 0.47
P_MALIGNANT_CLIP = (0.02, 0.98)

# Types whose benign lesions radiologists dismiss (mostly BENIGN_WITHOUT_CALLBACK, no distribution).
BENIGN_LOOKING_TYPES = frozenset({"ROUND_AND_REGULAR", "LUCENT_CENTER", "VASCULAR", "COARSE"})
P_BWC_IF_BENIGN = {True: 0.85, False: 0.15}  # keyed by "is a benign-looking type"
P_NA_DISTRIBUTION = {True: 0.8, False: 0.02}  # the CSV writes "NA" for no distribution
NO_DISTRIBUTION = "NA"

# BI-RADS assessment given pathology (train+test crosstab, rounded).
ASSESSMENT_BY_PATHOLOGY: dict[str, dict[int, float]] = {
    "BENIGN_WITHOUT_CALLBACK": {2: 0.98, 3: 0.01, 4: 0.01},
    "BENIGN": {0: 0.06, 2: 0.03, 3: 0.09, 4: 0.82},
    "MALIGNANT": {0: 0.055, 3: 0.08, 4: 0.57, 5: 0.295},
}

# Structure: patients with both breasts, lesions per breast (max abnormality id per breast:
# 669/95/35/10/14 breasts), and in which views a lesion was outlined (827 both, 157 MLO, 61 CC).
P_BOTH_BREASTS = 0.093
LESIONS_PER_BREAST: dict[int, int] = {1: 669, 2: 95, 3: 35, 4: 10, 5: 14}
LESION_VIEWS: dict[tuple[str, ...], int] = {("CC", "MLO"): 827, ("MLO",): 157, ("CC",): 61}
P_TRAIN_PATIENT = 0.80  # 602 of 753 patients are in the train CSV
P_SWAPPED_CROP_MASK = 0.10  # rows whose crop and mask path cells point at each other's file

# Image geometry (DDSM scans: about 50 micrometre pixels, roughly 4000 x 2600 at full size).
FULL_IMAGE_SHAPE = (4000, 2600)
PIXELS_PER_MM = 20.0
MLO_ANGLE_DEG = 45.0
MAX_PIXEL_VALUE = 4095  # 12 bits stored in 16
P_MONOCHROME1 = 0.25
