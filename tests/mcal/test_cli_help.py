"""`mcal --help` and each command's help stay free of torch: heavy imports wait for the command."""

import subprocess
import sys

HELPS = [["--help"], ["train", "--help"], ["predict", "--help"], ["audit", "--help"],
         ["sweep", "--help"]]

# One interpreter for every help (each its own would import the CLI again): after each, the
# heavy modules loaded so far; the first help that loads one is the one named.
PROBE = """
import sys
from mcal.cli import main
for args in {helps!r}:
    try:
        main(args)
    except SystemExit as exit_:
        assert exit_.code == 0, (args, exit_.code)
    heavy = sorted({{'torch', 'lightning', 'mlflow'}} & set(sys.modules))
    if heavy:
        sys.exit(f"mcal {{' '.join(args)}} imported {{heavy}}")
"""


def test_help_never_imports_torch():
    result = subprocess.run([sys.executable, "-c", PROBE.format(helps=HELPS)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr or result.stdout
