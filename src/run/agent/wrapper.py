"""metagpt-bot's wrapper around MetaGPT 0.8.2: `python wrapper.py <job.json>`.

It does what `metagpt.software_company.generate_repo` does for an incremental run (same team, same
config update), with these differences:
- the label decides requirement vs bugfix (`WritePRD._is_bugfix` is replaced; no WP_ISSUE_TYPE call);
  a bugfix on a repository without the PRD, design and task documents of an earlier run goes through
  the requirement flow (MetaGPT's bug flow needs them) and the result says so;
- the rounds run here, not in `Team.run`, so exceptions are reported instead of swallowed, and
  `Environment.archive()` (MetaGPT's "Archive" commit) and `Team.serialize()` never run;
- every message through `Environment.publish_message` is appended to the trace as one JSON line;
- every code review's verdict is appended to `reviews.jsonl` beside the trace as `{"file", "verdict":
  "LGTM"|"LBTM"}` (MetaGPT keeps it only in the LLM reply; the rule is its own: LGTM when the
  `## Code Review Result` section says LGTM, else LBTM and the file is rewritten);
- an optional source folder other than `<repo>/<basename(repo)>/` is honoured;
- the bot's gateway is the one retry layer for provider failures (429, 5xx, time-outs, with back-off):
  the openai client does not retry, and MetaGPT's own retries (6 per step, with back-offs of up to a
  minute) apply only to answers it could not parse, not to an API error the gateway already retried;
- an error names the step that failed and why: an LLM call the gateway gave up on, or answers MetaGPT
  could not parse after its retries;
- the result (status, error, flow, rounds, idle, MetaGPT's own cost counters) is written to
  `result_path`, and the exit code is 0 only when the status is "ok".

job.json: {project_path, idea, kind: "requirement"|"bugfix", n_round, code_review, run_tests,
investment, trace_path, result_path, source_dir: str|null, model, price_per_1k: {prompt, completion}|null,
gateway_relay: {listen: [host, port], socket}|null} (the relay runs when the sandbox has its own network;
see gateway_relay.py)
"""

import asyncio
import json
import os
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

import gateway_relay
from wrapper_errors import describe


def main(argv):
    if len(argv) != 2:
        print("usage: python wrapper.py <job.json>", file=sys.stderr)
        return 2
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    result = {
        "status": "error",
        "error": None,
        "flow": None,
        "rounds": 0,
        "idle": False,
        "cost": {"prompt_tokens": 0, "completion_tokens": 0, "total_cost": 0.0},
    }
    state = {}
    try:
        relay = job.get("gateway_relay")
        if relay:
            gateway_relay.start(relay["listen"], relay["socket"])
        asyncio.run(run(job, result, state))
        result["status"] = "ok"
    except BaseException as e:  # noqa: BLE001 - every failure must reach the result file
        traceback.print_exc()
        result["error"] = describe(e)
    finally:
        record_cost(state.get("ctx"), result)
        write_json_atomic(Path(job["result_path"]), result)
    return 0 if result["status"] == "ok" else 1


async def run(job, result, state):
    project_path = Path(job["project_path"]).resolve()
    source_dir = resolve_source_dir(project_path, job.get("source_dir"))
    flow = choose_flow(job["kind"], project_path)
    result["flow"] = flow
    print(f"metagpt-bot wrapper: {flow} flow on {project_path}", file=sys.stderr)

    from metagpt.actions.action_node import ActionNode
    from metagpt.actions.write_code import WriteCode
    from metagpt.actions.write_code_review import WriteCodeReview
    from metagpt.actions.write_prd import WritePRD
    from metagpt.config2 import config
    from metagpt.context import Context
    from metagpt.environment import Environment
    from metagpt.provider.openai_api import OpenAILLM
    from metagpt.roles import Architect, Engineer, ProductManager, ProjectManager, QaEngineer
    from metagpt.team import Team
    from metagpt.utils.project_repo import ProjectRepo
    from metagpt.utils.token_counter import TOKEN_COSTS

    is_bug = flow == "bugfix"

    async def label_decides(self, context):
        return is_bug

    WritePRD._is_bugfix = label_decides
    parse_retrying = [ActionNode._aask_v1, WriteCode.write_code, WriteCodeReview.write_code_review_and_rewrite]
    one_retry_layer(OpenAILLM, parse_retrying)
    trace_messages(Environment, Path(job["trace_path"]))
    record_reviews(WriteCodeReview, Path(job["trace_path"]).with_name("reviews.jsonl"))
    if source_dir is not None:
        use_source_dir(ProjectRepo, source_dir)
    price = job.get("price_per_1k")
    if price:
        TOKEN_COSTS[job["model"]] = {"prompt": float(price["prompt"]), "completion": float(price["completion"])}

    # As generate_repo: project_path implies inc=True and project_name = basename(project_path), so
    # WritePRD's `rename_root` leaves the repository where it is.
    config.update_via_cli(str(project_path), "", True, "", 0)
    ctx = Context(config=config)
    state["ctx"] = ctx
    if price:
        ctx.cost_manager.token_costs[job["model"]] = TOKEN_COSTS[job["model"]]
    if source_dir is not None:
        ctx.src_workspace = project_path / source_dir

    team = Team(context=ctx)
    team.hire([ProductManager(), Architect(), ProjectManager()])
    team.hire([Engineer(n_borg=5, use_code_review=bool(job["code_review"]))])
    n_round = int(job.get("n_round") or 20)
    if job["run_tests"]:
        team.hire([QaEngineer()])
        n_round = max(n_round, 8)  # as generate_repo: QA needs at least 8 rounds
    team.invest(float(job["investment"]))
    team.run_project(job["idea"])

    # Team.run without its exception swallowing, archive and serialisation.
    while n_round > 0:
        if team.env.is_idle:
            break
        n_round -= 1
        team._check_balance()
        result["rounds"] += 1  # rounds started, so a failure names the round it happened in
        await team.env.run()
    result["idle"] = team.env.is_idle


def resolve_source_dir(project_path, source_dir):
    """The source folder relative to the repository, or None for MetaGPT's `<repo>/<basename(repo)>/`."""
    if not source_dir:
        return None
    rel = Path(source_dir)
    full = (project_path / rel).resolve()
    if rel.is_absolute() or full == project_path or project_path not in full.parents:
        raise ValueError(f"source_dir {source_dir!r} must name a folder inside the repository")
    if not full.is_dir():
        raise ValueError(f"source_dir {source_dir!r} is not a folder of the repository")
    return full.relative_to(project_path)


def choose_flow(kind, project_path):
    if kind == "requirement":
        return "requirement"
    if kind != "bugfix":
        raise ValueError(f"unknown kind {kind!r} (expected requirement or bugfix)")
    docs = project_path / "docs"
    earlier_run = all(any((docs / d).glob("*.json")) for d in ("prd", "system_design", "task"))
    return "bugfix" if earlier_run else "requirement_for_bug"


def trace_messages(environment_cls, trace_path):
    """Appends every published message to `trace_path`, one JSON object a line."""
    trace_path.parent.mkdir(parents=True, exist_ok=True)
    trace = open(trace_path, "a", encoding="utf-8")
    original = environment_cls.publish_message

    def publish_message(self, message, peekable=True):
        record = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "role": message.role,
            "sent_from": message.sent_from,
            "send_to": sorted(message.send_to),
            "cause_by": message.cause_by,
            "content": message.content,
        }
        trace.write(json.dumps(record, ensure_ascii=False) + "\n")
        trace.flush()
        return original(self, message, peekable)

    environment_cls.publish_message = publish_message


def record_reviews(review_cls, reviews_path):
    """Appends each code review's (file, LGTM|LBTM) to `reviews_path`, in call order."""
    reviews_path.parent.mkdir(parents=True, exist_ok=True)
    original = review_cls.write_code_review_and_rewrite

    async def write_code_review_and_rewrite(self, context_prompt, cr_prompt, filename):
        result, code = await original(self, context_prompt, cr_prompt, filename)
        verdict = "LGTM" if "LGTM" in (result or "") else "LBTM"
        with open(reviews_path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"file": str(filename), "verdict": verdict}) + "\n")
        return result, code

    review_cls.write_code_review_and_rewrite = write_code_review_and_rewrite


def one_retry_layer(openai_llm_cls, parse_retrying):
    """Leaves provider failures to the gateway, which already retried them: without this a provider that
    does not answer costs 3 client attempts x 6 step attempts = 18 gateway calls per step."""
    import openai
    from tenacity import retry_if_not_exception_type, stop_after_attempt

    make_client_kwargs = openai_llm_cls._make_client_kwargs

    def no_client_retries(self):
        kwargs = make_client_kwargs(self)
        kwargs["max_retries"] = 0
        return kwargs

    openai_llm_cls._make_client_kwargs = no_client_retries
    openai_llm_cls.acompletion_text.retry.stop = stop_after_attempt(1)
    for fn in parse_retrying:
        fn.retry.retry = fn.retry.retry & retry_if_not_exception_type(openai.APIError)


def use_source_dir(project_repo_cls, source_dir):
    """Makes MetaGPT look for code in `<repo>/<source_dir>` instead of `<repo>/<basename(repo)>`."""

    def code_files_exists(self):
        src_workdir = Path(self.git_repo.workdir) / source_dir
        if not src_workdir.exists():
            return False
        return bool(self.with_src_path(path=src_workdir).srcs.all_files)

    project_repo_cls.code_files_exists = code_files_exists


def record_cost(ctx, result):
    if ctx is None:
        return
    try:
        cm = ctx.cost_manager
        result["cost"] = {
            "prompt_tokens": int(cm.total_prompt_tokens),
            "completion_tokens": int(cm.total_completion_tokens),
            "total_cost": float(cm.total_cost),
        }
    except Exception:  # noqa: BLE001 - the counters are informative only
        traceback.print_exc()


def write_json_atomic(path, value):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
