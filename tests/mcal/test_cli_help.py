"""`mcal --help` and each command's help stay free of torch: heavy imports wait for the command."""

import subprocess
import sys

import pytest

HELPS = [["--help"], ["train", "--help"], ["predict", "--help"], ["audit", "--help"],
         ["sweep", "--help"]]


@pytest.mark.parametrize("args", HELPS, ids=" ".join)
def test_help_never_imports_torch(args: list[str]):
    code = ("import sys\nfrom mcal.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit as exit_:\n    assert exit_.code == 0\n"
            "sys.exit(sorted({'torch', 'lightning', 'mlflow'} & set(sys.modules)) or 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr or result.stdout
