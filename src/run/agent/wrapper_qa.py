"""What MetaGPT 0.8.2 writes into files and how QA tests them, for metagpt-bot's wrapper: `apply(layout,
existing_tests)` patches MetaGPT after its modules are imported (`wrapper_layout.Layout`).

Written beside the wrapper (`wrapper_qa.py`), which imports it. Every patch below names what MetaGPT does,
why that is wrong on a real repository, and what the patch does instead.

1. Header lines. WriteCode's format example (`actions/write_code.py`, PROMPT_TEMPLATE) starts the code block
   with `## <filename>`, and QA's prompts ask for `## <SECTION_NAME>` before the code; a model that follows
   them writes that line into the file (flake8 E266 on every changed file). The patch strips a first
   non-blank line of two or more `#` followed by just the name of the file being written (its path or
   basename) from what WriteCode, WriteCodeReview (the rewrite after LBTM), WriteTest and DebugError
   return. A single-`#` line is an ordinary comment (`# test_calc.py`) and is kept.
2. Existing tests. `QaEngineer._write_test` (`roles/qa_engineer.py`) always writes
   `tests/test_<file>` and `_debug_error` always overwrites it, even with "" (DebugError returns "" when the
   tests passed); the prompt never shows the old file, so the project's own tests in it are lost. The patch
   names the test file `test_<file>` (nested paths flattened: `test_<dir>_<file>`) unless that file existed
   when the run started (on disk or tracked by git), then `test_<stem>_metagpt.py`, `..._metagpt_2.py`, ...;
   RunCode, DebugError and `test_outputs/<test file>.json` follow that name; DebugError's answer is saved
   only when it is not empty; and any write of MetaGPT's to a test file that existed at the start is
   refused with an error naming it (no test file is ever deleted: MetaGPT deletes none in this flow).
   WriteTest's prompt names the real tests folder instead of `tests/`, and says how the code under test
   imports (its dotted module under the import roots): the prompt gives only its path.
3. RunCode (`actions/run_code.py`). `run_script` runs `python <test>` with the first `python` on PATH (the
   agent's venv), `PYTHONPATH=<repo>:<source folder>` (the package folder itself: a module `ast.py` in it
   shadows the standard library and breaks `import unittest`; an installed same-named library may be
   imported instead of the work tree's), after `_install_dependencies` ran `pip install -r
   requirements.txt` and `pip install pytest` into that venv. The patch runs it with `project_python` (the
   run's own prepared venv; else the wrapper's interpreter), its `bin` first on PATH, `cwd` the repository
   root, `PYTHONPATH` exactly the job's import roots, MetaGPT's 10 s limit, and never installs anything.
4. SummarizeCode (`roles/engineer.py`). `_new_summarize_actions` makes one SummarizeCode per
   (design, task) pair of every file in the source folder; a file MetaGPT never wrote has no such pair (an
   empty context), `_act_summarize` runs every context but the first, and SummarizeCode then dies on
   `design_doc.content` (`AttributeError: 'NoneType' object has no attribute 'content'`) whenever the empty
   context is not the first in directory order. The patch skips contexts without a design or a task.
"""

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path, PurePosixPath

HEADER = re.compile(r"\s*#{2,}\s*`?([^\s`]+?)`?\s*:?\s*")


def strip_header(code, *names):
    """`code` without a first non-blank line `## <name>` naming one of `names` (path or basename)."""
    if not code:
        return code
    lines = code.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return code
    match = HEADER.fullmatch(lines[first])
    wanted = {PurePosixPath(str(n)).name for n in names if n}
    if match and PurePosixPath(match.group(1)).name in wanted:
        del lines[: first + 1]
        return "\n".join(lines)
    return code


def existing_test_files(layout):
    """The files under tests_dir at the start of the run: on disk or tracked by git, relative to it."""
    tests = layout.absolute(layout.tests_dir)
    found = set()
    if tests.is_dir():
        for path in tests.rglob("*"):
            if path.is_file() or path.is_symlink():
                found.add(path.relative_to(tests).as_posix())
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", layout.tests_dir or "."],
            cwd=layout.project_path,
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8", "replace")
        prefix = f"{layout.tests_dir}/" if layout.tests_dir else ""
        found.update(p[len(prefix) :] for p in listed.split("\0") if p.startswith(prefix))
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"metagpt-bot wrapper: git ls-files failed ({e}); using the files on disk", file=sys.stderr)
    return found


def test_file_name(code_filename, existing, mark):
    """The test file (relative to tests_dir) for a source file: MetaGPT's `test_<file>` unless it existed
    at the start of the run, then `test_<stem><mark>.py`, `test_<stem><mark>_2.py`, ... (`mark` is the
    job's `qa_test_suffix`, `_metagpt`)."""
    flat = PurePosixPath(code_filename).as_posix().replace("/", "_")
    name = "test_" + flat
    if name not in existing:
        return name
    stem, suffix = os.path.splitext(name)
    n = 1
    while True:
        name = f"{stem}{mark}{'' if n == 1 else f'_{n}'}{suffix or '.py'}"
        if name not in existing:
            return name
        n += 1


def module_name(path, import_roots):
    """The dotted module of `path` (relative to the repository) under the deepest import root holding it."""
    path = PurePosixPath(str(path))
    for root in sorted(import_roots, key=len, reverse=True):
        try:
            rel = path.relative_to(root) if root else path
        except ValueError:
            continue
        if rel.suffix != ".py":
            return None
        parts = list(rel.with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts) or None
    return None


def apply(layout, existing_tests):
    strip_headers()
    protect_tests(layout, existing_tests)
    qa_writes_new_test_files(layout, existing_tests)
    run_tests_in_project_env(layout)
    skip_empty_summaries()


def strip_headers():
    """Patch 1."""
    from metagpt.actions.debug_error import DebugError
    from metagpt.actions.write_code import WriteCode
    from metagpt.actions.write_code_review import WriteCodeReview
    from metagpt.actions.write_test import WriteTest

    def coding(cls):
        original = cls.run

        async def run(self, *args, **kwargs):
            context = await original(self, *args, **kwargs)
            doc = context.code_doc
            if doc is not None:
                doc.content = strip_header(doc.content, doc.filename, context.filename)
            return context

        cls.run = run

    coding(WriteCode)
    coding(WriteCodeReview)

    write_test = WriteTest.run

    async def write_test_run(self, *args, **kwargs):
        context = await write_test(self, *args, **kwargs)
        doc = context.test_doc
        doc.content = strip_header(doc.content, doc.filename)
        return context

    WriteTest.run = write_test_run

    debug = DebugError.run

    async def debug_run(self, *args, **kwargs):
        code = await debug(self, *args, **kwargs)
        code_filename = self.i_context.code_filename
        return strip_header(code, self.i_context.test_filename, code_filename, "test_" + code_filename)

    DebugError.run = debug_run


def protect_tests(layout, existing_tests):
    """Patch 2, the safety net: nothing QA saves or deletes through the tests repository lands on a test
    file that existed at the start. The engineer may still edit one its task list names (through the
    source repository, as `../tests/...`): the bot's `existing_tests_kept` gate judges what that kept, and
    the pull request lists the file prominently."""
    from metagpt.utils.file_repository import FileRepository

    tests = layout.absolute(layout.tests_dir).resolve()
    protected = {(tests / p).resolve() for p in existing_tests}
    save = FileRepository.save
    delete = FileRepository.delete

    def refuse(repo, filename, what):
        if Path(repo.workdir).resolve() != tests:
            return
        path = (Path(repo.workdir) / filename).resolve()
        if path in protected:
            raise PermissionError(
                f"MetaGPT's QA tried to {what} the project's test file {path.relative_to(tests.parent)}; "
                "metagpt-bot's wrapper never lets it"
            )

    async def guarded_save(self, filename, content, dependencies=None):
        refuse(self, filename, "overwrite")
        return await save(self, filename, content, dependencies)

    async def guarded_delete(self, filename):
        refuse(self, filename, "delete")
        return await delete(self, filename)

    FileRepository.save = guarded_save
    FileRepository.delete = guarded_delete


def qa_writes_new_test_files(layout, existing_tests):
    """Patch 2: QaEngineer's `_write_test` and `_debug_error`, as in 0.8.2 but for the test file's name,
    the import roots and DebugError's empty answer."""
    from metagpt.actions import DebugError, WriteTest
    from metagpt.actions import write_test as write_test_module
    from metagpt.logs import logger
    from metagpt.roles.qa_engineer import QaEngineer
    from metagpt.schema import Document, Message, RunCodeContext, TestingContext

    template = write_test_module.PROMPT_TEMPLATE.replace(
        "{workspace}/tests/", "{workspace}/" + (f"{layout.tests_dir}/" if layout.tests_dir else "")
    )
    located = "you should correctly import the necessary classes based on these file locations!"
    write_test_run = WriteTest.run

    async def run_with_import_hint(self, *args, **kwargs):
        # WriteTest formats the module's template with fixed keys; QA writes tests one file at a time.
        module = module_name(self.i_context.code_doc.root_relative_path, layout.import_roots)
        hint = located
        if module:
            roots = ", ".join(r or "." for r in layout.import_roots)
            hint = (
                f"{located} The test runs with PYTHONPATH={roots}, so the code under test imports as "
                f"`{module}` (`from {module} import ...`)."
            )
        write_test_module.PROMPT_TEMPLATE = template.replace(located, hint.replace("{", "{{").replace("}", "}}"))
        return await write_test_run(self, *args, **kwargs)

    WriteTest.run = run_with_import_hint

    async def _write_test(self, message):
        src_file_repo = self.project_repo.with_src_path(self.context.src_workspace).srcs
        changed_files = set(src_file_repo.changed_files.keys())
        if self.config.reqa_file and self.config.reqa_file not in changed_files:
            changed_files.add(self.config.reqa_file)
        for filename in changed_files:
            if not filename or "test" in filename:
                continue
            code_doc = await src_file_repo.get(filename)
            if not code_doc or not code_doc.filename.endswith(".py"):
                continue
            test_name = test_file_name(code_doc.filename, existing_tests, layout.qa_test_suffix)
            test_doc = Document(root_path=str(self.project_repo.tests.root_path), filename=test_name, content="")
            logger.info(f"Writing {test_doc.filename}..")
            context = TestingContext(filename=test_doc.filename, test_doc=test_doc, code_doc=code_doc)
            context = await WriteTest(i_context=context, context=self.context, llm=self.llm).run()
            await self.project_repo.tests.save_doc(
                doc=context.test_doc, dependencies={context.code_doc.root_relative_path}
            )
            run_code_context = RunCodeContext(
                command=["python", context.test_doc.root_relative_path],
                code_filename=context.code_doc.filename,
                test_filename=context.test_doc.filename,
                working_directory=str(self.project_repo.workdir),
                additional_python_paths=layout.python_paths(),
            )
            self.publish_message(
                Message(
                    content=run_code_context.model_dump_json(),
                    role=self.profile,
                    cause_by=WriteTest,
                    sent_from=self,
                    send_to=self,
                )
            )
        logger.info(f"Done {str(self.project_repo.tests.workdir)} generating.")

    async def _debug_error(self, msg):
        run_code_context = RunCodeContext.loads(msg.content)
        code = await DebugError(i_context=run_code_context, context=self.context, llm=self.llm).run()
        if code:
            await self.project_repo.tests.save(filename=run_code_context.test_filename, content=code)
        run_code_context.output = None
        self.publish_message(
            Message(
                content=run_code_context.model_dump_json(),
                role=self.profile,
                cause_by=DebugError,
                sent_from=self,
                send_to=self,
            )
        )

    QaEngineer._write_test = _write_test
    QaEngineer._debug_error = _debug_error


def run_tests_in_project_env(layout):
    """Patch 3."""
    from metagpt.actions.run_code import RunCode
    from metagpt.logs import logger

    python = layout.project_python or sys.executable

    async def run_script(self, working_directory, additional_python_paths=(), command=()):
        command = list(command)
        if command and command[0] in ("python", "python3"):
            command[0] = python
        env = self.context.new_environ()
        env["PYTHONPATH"] = os.pathsep.join(layout.python_paths())
        env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", "")])
        env.pop("PYTHONHOME", None)
        process = subprocess.Popen(
            command, cwd=str(layout.project_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        logger.info(" ".join(command))
        try:
            stdout, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            logger.info("The command did not complete within the given timeout.")
            process.kill()
            stdout, stderr = process.communicate()
        return stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")

    def no_install(*args, **kwargs):
        logger.info("metagpt-bot: no pip install; the run's environment was prepared before the agent")

    RunCode.run_script = run_script
    RunCode._install_dependencies = staticmethod(no_install)
    RunCode._install_requirements = staticmethod(no_install)
    RunCode._install_pytest = staticmethod(no_install)


def skip_empty_summaries():
    """Patch 4: `Engineer._new_summarize_actions` as in 0.8.2, without contexts lacking design or task."""
    from metagpt.actions.summarize_code import SummarizeCode
    from metagpt.roles.engineer import Engineer
    from metagpt.schema import CodeSummarizeContext

    async def _new_summarize_actions(self):
        src_files = self.project_repo.srcs.all_files
        summarizations = defaultdict(list)
        for filename in src_files:
            dependencies = await self.project_repo.srcs.get_dependency(filename=filename)
            ctx = CodeSummarizeContext.loads(filenames=list(dependencies))
            if not ctx.design_filename or not ctx.task_filename:
                continue  # a file MetaGPT never wrote: nothing to summarise it against
            summarizations[ctx].append(filename)
        for ctx, filenames in summarizations.items():
            ctx.codes_filenames = filenames
            new_summarize = SummarizeCode(i_context=ctx, context=self.context, llm=self.llm)
            for i, act in enumerate(self.summarize_todos):
                if act.i_context.task_filename == new_summarize.i_context.task_filename:
                    self.summarize_todos[i] = new_summarize
                    new_summarize = None
                    break
            if new_summarize:
                self.summarize_todos.append(new_summarize)
        if self.summarize_todos:
            self.set_todo(self.summarize_todos[0])
            self.summarize_todos.pop(0)

    Engineer._new_summarize_actions = _new_summarize_actions
