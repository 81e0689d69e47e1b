//! What the scripted team changes on each real project (`support/projects.rs`): a small requirement and
//! a bug report, each touching one existing module, with the module's full new text built from the file
//! in the work tree at the time the scenario is made (the original text plus the change), and unittest
//! tests that import the package the normal way (`import jmespath`, `from iniconfig import IniConfig`).
//!
//! Task files are named as MetaGPT's task list names them: relative to the source folder. Every test
//! file starts with `# test_<file>` (see `python.rs`).

use std::path::Path;

use super::scenario::{Scenario, Script};
use crate::support::projects::Project;

/// One change of a file, at the only occurrence of its anchor.
enum Edit {
    /// `text` goes right before the anchor.
    Before(&'static str, &'static str),
    /// `text` goes right after the anchor.
    After(&'static str, &'static str),
    /// The anchor is replaced by `text`.
    Replace(&'static str, &'static str),
}

/// A change of one module: the request, the task file, what it does, the edits and the tests.
struct Change {
    request: &'static str,
    file: &'static str,
    logic: &'static str,
    edits: &'static [Edit],
    tests: &'static str,
}

/// The scripted requirement on `project`, built from its work tree `work`.
pub fn requirement(project: Project, work: &Path) -> Scenario {
    let change = match project {
        Project::Iniconfig => &INICONFIG_REQUIREMENT,
        Project::Jmespath => &JMESPATH_REQUIREMENT,
        Project::Slugify => &SLUGIFY_REQUIREMENT,
    };
    change.scenario(project, work, false)
}

/// The scripted bug report on `project`, built from its work tree `work`.
pub fn bug_report(project: Project, work: &Path) -> Scenario {
    let change = match project {
        Project::Iniconfig => &INICONFIG_BUG,
        Project::Jmespath => &JMESPATH_BUG,
        Project::Slugify => &SLUGIFY_BUG,
    };
    change.scenario(project, work, true)
}

/// The text of the request `scenario` answers.
pub fn request(scenario: &Scenario) -> &str {
    &scenario.requirement
}

/// The code file the scenario changes and its full new text (relative to the source folder).
pub fn changed_code(scenario: &Scenario) -> (&str, &str) {
    let script = scenario.script.as_ref().expect("a project scenario");
    let (file, code) = &script.code[0];
    (file, code)
}

/// The tests the scenario's QA writes.
pub fn written_tests(scenario: &Scenario) -> &str {
    let script = scenario.script.as_ref().expect("a project scenario");
    &script.tests[0].1
}

impl Change {
    fn scenario(&self, project: Project, work: &Path, bugfix: bool) -> Scenario {
        let path = work.join(project.source_dir()).join(self.file);
        let mut code =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut diff = String::new();
        for edit in self.edits {
            let (anchor, text) = match edit {
                Edit::Before(a, t) | Edit::After(a, t) | Edit::Replace(a, t) => (*a, *t),
            };
            let found: Vec<usize> = code.match_indices(anchor).map(|(i, _)| i).collect();
            assert_eq!(
                found.len(),
                1,
                "{}: {anchor:?} must occur once",
                path.display()
            );
            let at = found[0];
            match edit {
                Edit::Before(..) => code.insert_str(at, text),
                Edit::After(..) => code.insert_str(at + anchor.len(), text),
                Edit::Replace(..) => {
                    code.replace_range(at..at + anchor.len(), text);
                    diff.extend(anchor.lines().map(|line| format!("-{line}\n")));
                }
            }
            diff.extend(text.lines().map(|line| format!("+{line}\n")));
        }
        let file = self.file.to_owned();
        let script = Script {
            tasks: vec![(file.clone(), self.logic.to_owned())],
            plan: vec![format!("In {file}: {}", self.logic)],
            change: vec![format!(
                "```diff\n--- Old/{file}\n+++ New/{file}\n{diff}```"
            )],
            code: vec![(file.clone(), code)],
            tests: vec![(file, self.tests.to_owned())],
        };
        Scenario::project(self.request, bugfix, script)
    }
}

const INICONFIG_REQUIREMENT: Change = Change {
    request: "iniconfig: add IniConfig.as_dict() returning every section as a plain dict of its values",
    file: "__init__.py",
    logic: "Add the method IniConfig.as_dict() after __contains__",
    edits: &[Edit::After(
        "        return arg in self.sections\n",
        r#"
    def as_dict(self) -> dict[str, dict[str, str]]:
        """Every section as a plain dict of its values, sections and values in file order."""
        return {section.name: dict(section.items()) for section in self}
"#,
    )],
    tests: r#"# test___init__.py
import unittest

from iniconfig import IniConfig


class TestAsDict(unittest.TestCase):
    def test_sections_and_values_in_file_order(self) -> None:
        ini = IniConfig("x.ini", data="[b]\ny = 2\nx = 1\n[a]\nz = 3\n")
        self.assertEqual(ini.as_dict(), {"b": {"y": "2", "x": "1"}, "a": {"z": "3"}})
        self.assertEqual(list(ini.as_dict()), ["b", "a"])
        self.assertEqual(list(ini.as_dict()["b"]), ["y", "x"])

    def test_an_empty_file(self) -> None:
        self.assertEqual(IniConfig("x.ini", data="").as_dict(), {})


if __name__ == "__main__":
    unittest.main()
"#,
};

const INICONFIG_BUG: Change = Change {
    request: "Bug in iniconfig sections: len(config['section']) raises TypeError: object of type \
              'SectionWrapper' has no len()",
    file: "__init__.py",
    logic: "Add SectionWrapper.__len__, the number of values of the section",
    edits: &[Edit::Before(
        "    def items(self) -> Iterator[tuple[str, str]]:\n",
        "    def __len__(self) -> int:\n        return len(self.config.sections.get(self.name, {}))\n\n",
    )],
    tests: r#"# test___init__.py
import unittest

from iniconfig import IniConfig


class TestSectionLength(unittest.TestCase):
    def test_the_number_of_values(self) -> None:
        ini = IniConfig("x.ini", data="[a]\nx = 1\ny = 2\n[b]\n")
        self.assertEqual(len(ini["a"]), 2)
        self.assertEqual(len(ini["b"]), 0)

    def test_iteration_still_works(self) -> None:
        ini = IniConfig("x.ini", data="[a]\nx = 1\n")
        self.assertEqual(list(ini["a"]), ["x"])


if __name__ == "__main__":
    unittest.main()
"#,
};

const JMESPATH_REQUIREMENT: Change = Change {
    request: "jmespath: add a built-in function upper(string) that returns the string in upper case",
    file: "functions.py",
    logic: "Add Functions._func_upper with the signature of one string",
    edits: &[Edit::Before(
        "    def _create_key_func(self, expref, allowed_types, function_name):\n",
        "    @signature({'types': ['string']})\n    def _func_upper(self, arg):\n        return arg.upper()\n\n",
    )],
    tests: r#"# test_functions.py
import unittest

import jmespath
from jmespath import exceptions


class TestUpper(unittest.TestCase):
    def test_upper_of_a_string(self) -> None:
        self.assertEqual(jmespath.search("upper(name)", {"name": "Ada"}), "ADA")

    def test_upper_in_a_projection(self) -> None:
        data = {"people": [{"name": "ada"}, {"name": "bob"}]}
        self.assertEqual(jmespath.search("people[].upper(name)", data), ["ADA", "BOB"])

    def test_upper_of_a_number_is_a_type_error(self) -> None:
        with self.assertRaises(exceptions.JMESPathTypeError):
            jmespath.search("upper(n)", {"n": 1})


if __name__ == "__main__":
    unittest.main()
"#,
};

const JMESPATH_BUG: Change = Change {
    request: "Bug in jmespath to_number: to_number('nan') and to_number('Infinity') return NaN and \
              inf, which are not JSON numbers; they must be null",
    file: "functions.py",
    logic: "Make _func_to_number return None for NaN and infinities",
    edits: &[Edit::Replace(
        "                    return float(arg)\n",
        "                    number = float(arg)\n                    if number != number or number in (float('inf'), float('-inf')):\n                        return None\n                    return number\n",
    )],
    tests: r#"# test_functions.py
import unittest

import jmespath


class TestToNumberOfNonFiniteStrings(unittest.TestCase):
    def test_nan_is_null(self) -> None:
        self.assertIsNone(jmespath.search("to_number(@)", "nan"))

    def test_infinities_are_null(self) -> None:
        self.assertIsNone(jmespath.search("to_number(@)", "Infinity"))
        self.assertIsNone(jmespath.search("to_number(@)", "-inf"))

    def test_numbers_still_convert(self) -> None:
        self.assertEqual(jmespath.search("to_number(@)", "1.5"), 1.5)
        self.assertEqual(jmespath.search("to_number(@)", "3"), 3)


if __name__ == "__main__":
    unittest.main()
"#,
};

const SLUGIFY_REQUIREMENT: Change = Change {
    request: "slugify: add an option max_words to slugify() that keeps only the first words of the slug",
    file: "slugify.py",
    logic: "Add the keyword max_words: int = 0 to slugify(), applied before the truncation",
    edits: &[
        Edit::After(
            "    allow_unicode: bool = False,\n",
            "    max_words: int = 0,\n",
        ),
        Edit::After(
            "    :param allow_unicode (bool): allow unicode characters\n",
            "    :param max_words (int): keep only the first max_words words (0: all)\n",
        ),
        Edit::Before(
            "    # smart truncate if requested\n",
            "    # keep the first words only (optional)\n    if max_words > 0:\n        text = DEFAULT_SEPARATOR.join(text.split(DEFAULT_SEPARATOR)[:max_words])\n\n",
        ),
    ],
    tests: r#"# test_slugify.py
import unittest

from slugify import slugify


class TestMaxWords(unittest.TestCase):
    def test_keeps_the_first_words(self) -> None:
        self.assertEqual(slugify("The quick brown fox", max_words=2), "the-quick")

    def test_zero_keeps_every_word(self) -> None:
        self.assertEqual(slugify("The quick brown fox"), "the-quick-brown-fox")

    def test_with_a_separator(self) -> None:
        text = slugify("The quick brown fox", max_words=3, separator="_")
        self.assertEqual(text, "the_quick_brown")


if __name__ == "__main__":
    unittest.main()
"#,
};

const SLUGIFY_BUG: Change = Change {
    request: "Bug in slugify with numbers: slugify(123) raises TypeError: decoding to str: need a \
              bytes-like object, int found",
    file: "slugify.py",
    logic: "Make slugify() decode only bytes and str() any other value",
    edits: &[Edit::Replace(
        "    # ensure text is unicode\n    if not isinstance(text, str):\n        text = str(text, 'utf-8', 'ignore')\n",
        "    # ensure text is unicode\n    if isinstance(text, (bytes, bytearray)):\n        text = str(text, 'utf-8', 'ignore')\n    elif not isinstance(text, str):\n        text = str(text)\n",
    )],
    tests: r#"# test_slugify.py
import unittest

from slugify import slugify


class TestNumbers(unittest.TestCase):
    def test_an_int(self) -> None:
        self.assertEqual(slugify(123), "123")

    def test_a_float(self) -> None:
        self.assertEqual(slugify(12.5), "12-5")

    def test_bytes_still_decode(self) -> None:
        self.assertEqual(slugify(b"Hello World"), "hello-world")


if __name__ == "__main__":
    unittest.main()
"#,
};
