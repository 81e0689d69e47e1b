"""Where MetaGPT 0.8.2 reads and writes in the repository, for metagpt-bot's wrapper: `apply(layout)` patches
MetaGPT after its modules are imported; `Layout.from_job(job)` reads the job's layout fields.

Written beside the wrapper (`wrapper_layout.py`), which imports it. Every patch below names what MetaGPT
does, why that is wrong on a real repository, and what the patch does instead.

1. spec_dir (MetaGPT's bookkeeping under `<repo>/<spec_dir>/`). MetaGPT names its folders by constants of
   `metagpt.const` (`DOCS_FILE_REPO = "docs"`, `PRDS_FILE_REPO = "docs/prd"`, ..., `TEST_OUTPUTS_FILE_REPO`,
   `RESOURCES_FILE_REPO`, ...), imported by value into `utils/project_repo.py` (the FileRepositories),
   `schema.py` (`CodeSummarizeContext.loads`, `CodePlanAndChangeContext.loads`: `is_relative_to`),
   `roles/engineer.py` (`i.parent.as_posix() == TASK_FILE_REPO`), `actions/write_prd.py` and
   `actions/design_api.py` (`repo.workdir / COMPETITIVE_ANALYSIS_FILE_REPO`, ...). All are paths relative to
   the repository root, so on a project MetaGPT never generated its `docs/` lands in the project's own
   (Sphinx) `docs/` and its `resources/`, `test_outputs/` at the root. The patch rebinds each of those
   names, in `metagpt.const` and in every loaded `metagpt.*` module that holds it, to
   `<spec_dir>/<value>`; every use site reads the module global at call time (no default argument or class
   field captures one), so documents, their `root_relative_path`s, the dependency values and the
   comparisons above all carry the same prefix and stay consistent. `TEST_CODES_FILE_REPO` ("tests") is not
   bookkeeping: it becomes the project's `tests_dir`. `requirements.txt` (ProjectManager) stays at the root.
2. `.dependencies.json` (`utils/dependency_file.py`): `DependencyFile(workdir)` stores it at
   `<workdir>/.dependencies.json` and keys it by paths relative to the file's own folder; moved to
   `<spec_dir>/` as is, every source file (outside spec_dir) would be keyed by its absolute path. The patch
   (`git_repository.DependencyFile`, the one constructor) stores the file in `<spec_dir>/` and keeps the
   keys and values relative to the repository root, as MetaGPT writes them at the root.
3. Git (`utils/git_repository.py`): `GitRepository.open(auto_init=True)` runs `git init` (and commits a
   `.gitignore`) wherever it finds no `.git` directory, e.g. in a linked work tree whose `.git` is a file
   or a folder that is not the root; `archive()`/`commit()` commit on the current branch. The patch opens
   any work tree root (`.git` file or directory), never initialises one (a clear error instead), and makes
   `commit`/`archive` refuse: the bot commits, MetaGPT never does. A missing `.gitignore` no longer crashes
   the run (`parse_gitignore` of a missing file): nothing is ignored then.
4. Source folder (`utils/project_repo.py`): `ProjectRepo.code_files_exists` looks only at
   `<repo>/<basename(repo)>/` and sets the source path only when that folder holds files, so on any other
   layout (or an empty folder) `ProjectRepo.srcs` raises `ValueError: Call with_srcs first.` at the first
   role that reads the sources (WriteCode's incremental `get_codes` uses `self.repo.srcs`). The patch points
   it at `source_dir` and always sets the source path; the context's `src_workspace` is set too.
5. Old code (`actions/write_code_plan_and_change_an.py`): `WriteCodePlanAndChange.get_old_codes` reads
   "the old code" from `<repo>/<basename(repo)>/`, creating that folder (FileRepository mkdirs) when the
   code lives elsewhere, and shows the model no code at all. The patch reads `source_dir`.
6. Flow: MetaGPT's bug flow (`Engineer._new_code_actions` with `bugfix.txt`) rewrites every file of the
   source folder and needs, per file, a `.dependencies.json` entry naming its task and design documents
   (`_new_coding_context`), else `ValueError: Detected source code ... from an unknown origin`.
   `bug_flow_covered` says whether that holds (and the PRD, design and task documents exist), so the
   wrapper takes the bug flow only then.
"""

import json
import sys
from pathlib import Path, PurePosixPath

# The bookkeeping constants of metagpt.const that move under spec_dir (every `*_FILE_REPO` but the tests).
SPEC_CONSTANTS = (
    "DOCS_FILE_REPO",
    "PRDS_FILE_REPO",
    "SYSTEM_DESIGN_FILE_REPO",
    "TASK_FILE_REPO",
    "CODE_PLAN_AND_CHANGE_FILE_REPO",
    "COMPETITIVE_ANALYSIS_FILE_REPO",
    "DATA_API_DESIGN_FILE_REPO",
    "SEQ_FLOW_FILE_REPO",
    "SYSTEM_DESIGN_PDF_FILE_REPO",
    "PRD_PDF_FILE_REPO",
    "TASK_PDF_FILE_REPO",
    "CODE_PLAN_AND_CHANGE_PDF_FILE_REPO",
    "TEST_OUTPUTS_FILE_REPO",
    "CODE_SUMMARIES_FILE_REPO",
    "CODE_SUMMARIES_PDF_FILE_REPO",
    "RESOURCES_FILE_REPO",
    "SD_OUTPUT_FILE_REPO",
    "GRAPH_REPO_FILE_REPO",
    "VISUAL_GRAPH_REPO_FILE_REPO",
    "CLASS_VIEW_FILE_REPO",
)
TESTS_CONSTANT = "TEST_CODES_FILE_REPO"
DEPENDENCY_FILE = ".dependencies.json"


class Layout:
    """The job's layout, validated: paths relative to the repository, `/`-separated ("" = the root)."""

    def __init__(self, project_path, spec_dir, source_dir, tests_dir, import_roots, project_python, qa_test_suffix):
        self.project_path = project_path
        self.spec_dir = spec_dir
        self.source_dir = source_dir
        self.tests_dir = tests_dir
        self.import_roots = import_roots
        self.project_python = project_python
        self.qa_test_suffix = qa_test_suffix

    @staticmethod
    def from_job(job):
        """Old jobs lack the layout fields: spec_dir "" (the root), source_dir MetaGPT's
        `<basename(repo)>`, tests_dir "tests", import_roots [""], project_python none."""
        project_path = Path(job["project_path"]).resolve()
        source_dir = job.get("source_dir") or project_path.name
        roots = job.get("import_roots")
        python = job.get("project_python")
        return Layout(
            project_path=project_path,
            spec_dir=relative(project_path, job.get("spec_dir") or "", "spec_dir", allow_root=True),
            source_dir=relative(project_path, source_dir, "source_dir"),
            tests_dir=relative(project_path, job.get("tests_dir") or "tests", "tests_dir"),
            import_roots=[relative(project_path, r or "", "import_roots", allow_root=True) for r in (roots or [""])],
            project_python=str(Path(python).absolute()) if python else None,
            # The bot's name for it (marks::QA_TEST_SUFFIX); the gates find QA's files by it.
            qa_test_suffix=job["qa_test_suffix"],
        )

    def spec(self, value):
        """`value` (a path relative to the root) inside spec_dir."""
        return f"{self.spec_dir}/{value}" if self.spec_dir else value

    def absolute(self, rel):
        return self.project_path / rel if rel else self.project_path

    @property
    def source_path(self):
        return self.absolute(self.source_dir)

    def python_paths(self):
        """The absolute import roots, as PYTHONPATH lists them."""
        return [str(self.absolute(r)) for r in self.import_roots]


def relative(project_path, value, field, allow_root=False):
    """`value` as a normalised `/`-separated path inside the repository; "" only where `allow_root`."""
    if not isinstance(value, str):
        raise ValueError(f"{field} {value!r} must be a string")
    rel = PurePosixPath(value.replace("\\", "/"))
    parts = [p for p in rel.parts if p not in ("", ".")]
    if rel.is_absolute() or ".." in parts or (not parts and not allow_root):
        raise ValueError(f"{field} {value!r} must name a folder inside the repository")
    if parts and (project_path / Path(*parts)).resolve() == project_path:
        raise ValueError(f"{field} {value!r} must name a folder inside the repository")
    return "/".join(parts)


def apply(layout):
    """Patches MetaGPT's already imported modules for `layout` (see the module docstring)."""
    rebind_constants(layout)
    keep_dependencies_in_spec_dir(layout)
    guard_git()
    use_source_dir(layout)
    read_old_code_from_source_dir(layout)


def rebind_constants(layout):
    """Patch 1: every loaded `metagpt.*` module's bookkeeping constants point into spec_dir."""
    import metagpt.const as const

    values = {name: layout.spec(getattr(const, name)) for name in SPEC_CONSTANTS}
    values[TESTS_CONSTANT] = layout.tests_dir
    originals = {name: getattr(const, name) for name in values}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "metagpt" or name.startswith("metagpt.")):
            continue
        module_vars = getattr(module, "__dict__", {})
        for constant, value in values.items():
            # Only the constant itself, not an unrelated global that happens to share the name.
            if module_vars.get(constant) == originals[constant]:
                setattr(module, constant, value)


def keep_dependencies_in_spec_dir(layout):
    """Patch 2: `.dependencies.json` in spec_dir, keyed by paths relative to the repository root."""
    from metagpt.utils import git_repository
    from metagpt.utils.dependency_file import DependencyFile

    class SpecDirDependencyFile(DependencyFile):
        def __init__(self, workdir):
            super().__init__(workdir)
            self._root = Path(workdir)
            self._filename = self._root / layout.spec(DEPENDENCY_FILE)

        async def update(self, filename, dependencies, persist=True):
            if persist:
                await self.load()
            key = root_relative(filename, self._root)
            if dependencies:
                self._dependencies[key] = [root_relative(i, self._root) for i in dependencies]
            elif key in self._dependencies:
                del self._dependencies[key]
            if persist:
                await self.save()

        async def get(self, filename, persist=True):
            if persist:
                await self.load()
            return set(self._dependencies.get(root_relative(filename, self._root), {}))

    git_repository.DependencyFile = SpecDirDependencyFile


def root_relative(path, root):
    """As DependencyFile keys a path: relative to `root` when inside it, else as given (`/`-separated)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def guard_git():
    """Patch 3: open work trees as they are, never `git init`, never commit."""
    from git import Repo
    from metagpt.utils import git_repository

    def open_repository(self, local_path, auto_init=False):
        local_path = Path(local_path)
        if (local_path / ".git").exists():
            self._repository = Repo(local_path)
            gitignore = local_path / ".gitignore"
            if gitignore.is_file():
                self._gitignore_rules = git_repository.parse_gitignore(full_path=str(gitignore))
            else:
                self._gitignore_rules = lambda _path: False
            return
        if not auto_init:
            return
        raise RuntimeError(
            f"MetaGPT asked for a git repository at {local_path}, which is not the root of a git work tree; "
            "metagpt-bot's wrapper never creates one"
        )

    def refuse_commit(self, *args, **kwargs):
        raise RuntimeError("MetaGPT tried to commit; metagpt-bot's wrapper never lets it (the bot commits)")

    git_repository.GitRepository.open = open_repository
    git_repository.GitRepository.commit = refuse_commit
    git_repository.GitRepository.archive = refuse_commit


def use_source_dir(layout):
    """Patch 4: the sources are `<repo>/<source_dir>`, and `ProjectRepo.srcs` always has its path."""
    from metagpt.utils.project_repo import ProjectRepo

    def code_files_exists(self):
        src_workdir = Path(self.git_repo.workdir) / layout.source_dir
        self.with_src_path(path=src_workdir)
        if not src_workdir.is_dir():
            return False
        return bool(self.srcs.all_files)

    ProjectRepo.code_files_exists = code_files_exists


def read_old_code_from_source_dir(layout):
    """Patch 5: the code plan sees the code of source_dir as the old code."""
    from metagpt.actions.write_code_plan_and_change_an import WriteCodePlanAndChange

    async def get_old_codes(self):
        self.repo.old_workspace = Path(self.repo.git_repo.workdir) / layout.source_dir
        old_file_repo = self.repo.git_repo.new_file_repository(relative_path=self.repo.old_workspace)
        old_codes = await old_file_repo.get_all()
        codes = [f"----- {code.filename}\n```{code.content}```" for code in old_codes]
        return "\n".join(codes)

    WriteCodePlanAndChange.get_old_codes = get_old_codes


def bug_flow_covered(layout):
    """Whether MetaGPT's bug flow can work here (patch 6): the PRD, design and task documents of an earlier
    run exist in spec_dir, and every file MetaGPT lists in the source folder has a `.dependencies.json`
    entry naming an existing task and design document. Reads the constants as `apply` rebinds them."""
    import metagpt.const as const
    from metagpt.utils.git_repository import GitRepository

    root = layout.project_path
    for folder in (const.PRDS_FILE_REPO, const.SYSTEM_DESIGN_FILE_REPO, const.TASK_FILE_REPO):
        if not any((root / folder).glob("*.json")):
            return False, f"no {folder}/*.json"
    dependency_file = root / layout.spec(DEPENDENCY_FILE)
    try:
        dependencies = json.loads(dependency_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, f"no readable {layout.spec(DEPENDENCY_FILE)}"
    files = GitRepository(local_path=root, auto_init=False).get_files(relative_path=layout.source_dir)
    if not files:
        return False, f"no files in {layout.source_dir}"
    for name in files:
        key = PurePosixPath(layout.source_dir, Path(name).as_posix()).as_posix()
        parents = {str(PurePosixPath(d).parent): d for d in dependencies.get(key) or []}
        needed = (const.TASK_FILE_REPO, const.SYSTEM_DESIGN_FILE_REPO)
        if not all(p in parents and (root / parents[p]).is_file() for p in needed):
            return False, f"{key} has no task and design in {layout.spec(DEPENDENCY_FILE)}"
    return True, "every source file has its task and design"
