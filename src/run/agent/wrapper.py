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
- the repository's layout is honoured (`wrapper_layout.py`): MetaGPT's bookkeeping lives in `spec_dir`,
  the code in `source_dir`, new tests in `tests_dir`; MetaGPT never creates a git repository nor commits;
- what MetaGPT writes and how QA tests it is fixed for real projects (`wrapper_qa.py`): no `## <file>`
  header lines, the project's existing test files are never overwritten (new tests go to new files), QA
  runs the tests with the project's interpreter and import roots and never pip-installs, and
  SummarizeCode no longer dies on files MetaGPT never wrote;
- a bugfix takes MetaGPT's bug flow only when its bookkeeping covers every source file (else the
  requirement flow with the bug report, "requirement_for_bug");
- the bot's gateway is the one retry layer for provider failures (429, 5xx, time-outs, with back-off):
  the openai client does not retry, and MetaGPT's own retries (6 per step, with back-offs of up to a
  minute) apply only to answers it could not parse, not to an API error the gateway already retried;
- an error names the step that failed and why: an LLM call the gateway gave up on, or answers MetaGPT
  could not parse after its retries;
- the result (status, error, flow, rounds, idle, MetaGPT's own cost counters) is written to
  `result_path`, and the exit code is 0 only when the status is "ok".

job.json: {project_path, idea, kind: "requirement"|"bugfix", n_round, code_review, run_tests,
investment, trace_path, result_path, model, price_per_1k: {prompt, completion}|null,
gateway_relay: {listen: [host, port], socket}|null (the relay runs when the sandbox has its own network;
see gateway_relay.py), and the layout (relative to project_path, `/`-separated, "" = the root):
spec_dir: str (default ""), source_dir: str|null (default `<basename(project_path)>`), tests_dir: str
(default "tests"), import_roots: [str] (default [""]), project_python: str|null (default: this
interpreter)}
"""

import asyncio
import json
import os
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

import gateway_relay
import wrapper_layout
import wrapper_qa
from wrapper_errors import describe
from wrapper_layout import Layout


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
    layout = Layout.from_job(job)
    project_path = layout.project_path
    if job.get("source_dir") and not layout.source_path.is_dir():
        raise ValueError(f"source_dir {job['source_dir']!r} is not a folder of the repository")
    if layout.project_python and not os.access(layout.project_python, os.X_OK):
        raise ValueError(f"project_python {layout.project_python} is not an executable interpreter")
    if job["kind"] not in ("requirement", "bugfix"):
        raise ValueError(f"unknown kind {job['kind']!r} (expected requirement or bugfix)")
    if job["kind"] == "requirement":
        result["flow"] = "requirement"
    # Before MetaGPT writes anything: the test files QA must never overwrite.
    existing_tests = wrapper_qa.existing_test_files(layout)

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
    from metagpt.utils.token_counter import TOKEN_COSTS

    wrapper_layout.apply(layout)
    wrapper_qa.apply(layout, existing_tests)
    flow = choose_flow(job["kind"], layout)
    result["flow"] = flow
    print(f"metagpt-bot wrapper: {flow} flow on {project_path} (spec_dir {layout.spec_dir!r}, source_dir "
          f"{layout.source_dir!r}, tests_dir {layout.tests_dir!r})", file=sys.stderr)
    is_bug = flow == "bugfix"

    async def label_decides(self, context):
        return is_bug

    WritePRD._is_bugfix = label_decides
    parse_retrying = [ActionNode._aask_v1, WriteCode.write_code, WriteCodeReview.write_code_review_and_rewrite]
    one_retry_layer(OpenAILLM, parse_retrying)
    trace_messages(Environment, Path(job["trace_path"]))
    record_reviews(WriteCodeReview, Path(job["trace_path"]).with_name("reviews.jsonl"))
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
    ctx.src_workspace = layout.source_path

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


def choose_flow(kind, layout):
    """MetaGPT's bug flow only where its bookkeeping covers every source file (`wrapper_layout`)."""
    if kind == "requirement":
        return "requirement"
    covered, why = wrapper_layout.bug_flow_covered(layout)
    print(f"metagpt-bot wrapper: bug flow {'possible' if covered else 'not possible'}: {why}", file=sys.stderr)
    return "bugfix" if covered else "requirement_for_bug"


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
