//! The Python the scripted engineer and QA write: a tiny calculator package (`calc.py`, `main.py`) and
//! its unittest files, in the versions each scenario needs. Pure standard library, so QA's real test
//! run with the venv's interpreter passes or fails exactly as intended.
//!
//! Every test file starts with a `# test_<file>.py` line, which is how the debug step (whose prompt
//! names no file) tells which test it is asked to rewrite.

/// The seed repository's only source file, `<repo>/<repo>/calc.py`.
pub const SEED_CALC: &str =
    "\"\"\"A tiny calculator.\"\"\"\n\n\ndef add(a: float, b: float) -> float:\n    return a + b\n";

/// The task list of the requirement run, in dependency order.
pub const TASK_FILES: [&str; 2] = ["calc.py", "main.py"];

/// `calc.py` after the requirement "add a subtract function".
pub const CALC: &str = "\"\"\"A tiny calculator.\"\"\"\n\n\ndef add(a: float, b: float) -> float:\n    return a + b\n\n\ndef subtract(a: float, b: float) -> float:\n    return a - b\n";

/// A `calc.py` the reviewer rejects: `subtract` has the operands swapped.
pub const CALC_BUGGY: &str = "\"\"\"A tiny calculator.\"\"\"\n\n\ndef add(a: float, b: float) -> float:\n    return a + b\n\n\ndef subtract(a: float, b: float) -> float:\n    return b - a\n";

/// `calc.py` after the bug report "calc accepts strings": numbers only.
pub const CALC_FIXED: &str = "\"\"\"A tiny calculator.\"\"\"\n\n\ndef _number(x: float) -> float:\n    if isinstance(x, bool) or not isinstance(x, (int, float)):\n        raise TypeError(f\"not a number: {x!r}\")\n    return x\n\n\ndef add(a: float, b: float) -> float:\n    return _number(a) + _number(b)\n\n\ndef subtract(a: float, b: float) -> float:\n    return _number(a) - _number(b)\n";

pub const MAIN: &str = "\"\"\"Prints a few sums and differences.\"\"\"\n\nfrom calc import add, subtract\n\n\ndef main() -> str:\n    return f\"{add(2, 3)} {subtract(5, 3)}\"\n\n\nif __name__ == \"__main__\":\n    print(main())\n";

pub const TEST_CALC: &str = "# test_calc.py\nimport unittest\n\nfrom calc import add, subtract\n\n\nclass TestCalc(unittest.TestCase):\n    def test_add(self) -> None:\n        self.assertEqual(add(2, 3), 5)\n\n    def test_subtract(self) -> None:\n        self.assertEqual(subtract(5, 3), 2)\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n";

/// A `test_calc.py` with a wrong expectation: its first run fails, the debug step fixes it.
pub const TEST_CALC_WRONG: &str = "# test_calc.py\nimport unittest\n\nfrom calc import add, subtract\n\n\nclass TestCalc(unittest.TestCase):\n    def test_add(self) -> None:\n        self.assertEqual(add(2, 3), 5)\n\n    def test_subtract(self) -> None:\n        self.assertEqual(subtract(5, 3), -2)\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n";

/// The tests after the bug fix: numbers still work, strings are refused.
pub const TEST_CALC_FIXED: &str = "# test_calc.py\nimport unittest\n\nfrom calc import add, subtract\n\n\nclass TestCalc(unittest.TestCase):\n    def test_add(self) -> None:\n        self.assertEqual(add(2, 3), 5)\n\n    def test_subtract(self) -> None:\n        self.assertEqual(subtract(5, 3), 2)\n\n    def test_strings_are_refused(self) -> None:\n        with self.assertRaises(TypeError):\n            add(\"2\", \"3\")\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n";

pub const TEST_MAIN: &str = "# test_main.py\nimport unittest\n\nfrom main import main\n\n\nclass TestMain(unittest.TestCase):\n    def test_main(self) -> None:\n        self.assertEqual(main(), \"5 2\")\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n";
