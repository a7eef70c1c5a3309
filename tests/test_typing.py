"""Type checkers see iometa's types: mypy infers the result types in a user's script.

iometa ships ``py.typed`` (PEP 561) and its public names are visible to mypy through the
``TYPE_CHECKING`` imports of ``iometa/__init__.py`` (at run time they are imported lazily).
The script below is checked by mypy as a user's code would be, from outside the repository.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import iometa

ROOT = Path(__file__).resolve().parents[1]

USER_SCRIPT = textwrap.dedent('''
    import iometa

    res = iometa.pool_proportions([13, 4, 9], [51, 30, 40], measure="PLO", method="REML")
    reveal_type(res)
    reveal_type(res.estimate)
    reveal_type(res.ci_low)
    reveal_type(res.tau2)
    reveal_type(res.i2)
    reveal_type(res.k)
    reveal_type(res.tau2_ci)
    reveal_type(res.studies)
    reveal_type(res.summary())
    gen = iometa.pool([0.1, 0.3, 0.2], [0.01, 0.02, 0.015], method="DL", test="knha")
    reveal_type(gen)
    reveal_type(gen.refit(method="PM"))
    sub = iometa.subgroups(res, ["a", "a", "b"])
    reveal_type(sub)
    reveal_type(iometa.forest_plot(res))
    reveal_type(iometa.funnel_plot(res))
    reveal_type(iometa.pool_rates([3, 5], [100.0, 80.0]))
    reveal_type(iometa.pool_bayes([0.1, 0.3], [0.01, 0.02]))
    reveal_type(iometa.pool_multilevel([0.1, 0.3, 0.2], [0.01, 0.02, 0.01], cluster=[1, 1, 2]))
    reveal_type(iometa.trim_and_fill(res))
    reveal_type(iometa.trim_and_fill(res).result)
    reveal_type(iometa.leave_one_out(res))
    reveal_type(iometa.ci_wilson([13], [51]))
    x: str = res.estimate
    bad = iometa.pool([0.1, 0.2], [0.01, 0.02], level="high")
    import pandas as pd
    ok = iometa.pool("yi", "vi", data=pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.01, 0.02]}))
    reveal_type(ok)
''')

EXPECTED = {
    5: "iometa.core.results.MetaResult",
    6: "float",
    7: "float",
    8: "float",
    9: "float",
    10: "int",
    11: "tuple[float, float]",
    12: "pandas.core.frame.DataFrame",
    13: "str",
    15: "iometa.core.results.MetaResult",
    16: "iometa.core.results.MetaResult",
    18: "iometa.compare.subgroups.SubgroupResult",
    19: "matplotlib.figure.Figure",
    20: "matplotlib.figure.Figure",
    21: "iometa.core.results.MetaResult",
    22: "iometa.core.bayes_result.BayesResult",
    23: "iometa.core.multilevel_result.MultilevelResult",
    24: "iometa.bias.trimfill.TrimFillResult",
    25: "iometa.core.results.MetaResult",
    26: "pandas.core.frame.DataFrame",
    32: "iometa.core.results.MetaResult",
}


def _mypy(script: Path, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--show-error-codes",
         "--no-error-summary", "--python-version", "3.10", str(script)],
        cwd=cwd, capture_output=True, text=True, timeout=900,
        env={"PATH": "", "MYPYPATH": "", "PYTHONPATH": str(ROOT), "HOME": str(cwd)},
    )
    return proc.stdout + proc.stderr


def test_py_typed_is_shipped():
    assert (ROOT / "iometa" / "py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'iometa = \[[^\]]*"py\.typed"', pyproject)


def test_type_checking_imports_cover_every_public_name():
    """The static view (TYPE_CHECKING imports) names exactly the lazily imported names."""
    source = (ROOT / "iometa" / "__init__.py").read_text(encoding="utf-8")
    block = source.split("if TYPE_CHECKING:", 1)[1].split("\n\n", 1)[0]
    static = set(re.findall(r"(\w+) as \1\b", block))
    assert static == set(iometa._LAZY)


def test_mypy_infers_result_types_in_user_code(tmp_path):
    script = tmp_path / "user_script.py"
    script.write_text(USER_SCRIPT, encoding="utf-8")
    out = _mypy(script, tmp_path)
    # mypy < 2 spells builtins in full ("builtins.float")
    revealed = {int(m.group(1)): m.group(2).replace("builtins.", "") for m in re.finditer(
        r'user_script\.py:(\d+): note: Revealed type is "([^"]+)"', out)}
    for line, expected in EXPECTED.items():
        assert revealed.get(line, "").rstrip("?") == expected, (line, revealed.get(line), out)
    # a wrong use is caught: a float is not a str
    assert re.search(r'user_script\.py:28: error: Incompatible types in assignment '
                     r'\(expression has type "float", variable has type "str"\)', out), out
    # ci_wilson: a pair of arrays
    assert "tuple[numpy.ndarray" in revealed[27], revealed[27]
    # parameters are typed too: a string level is refused, column names with data= are not
    assert re.search(r'user_script\.py:29: error: Argument "level" to "pool" has incompatible '
                     r'type "str"; expected "float"', out), out
    errors = [ln for ln in out.splitlines() if ": error:" in ln
              and not re.match(r"\S+:(28|29):", ln)]
    assert not errors, out
