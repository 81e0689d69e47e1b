"""How metagpt-bot's wrapper words a failed MetaGPT 0.8.2 run: `describe(error)` is one line naming the
step that failed (`WritePRD (Product Manager)`) and why: an LLM call the gateway gave up on, answers
MetaGPT could not parse after its retries, the budget, or any other error as `Type: message`.

Written beside the wrapper (`wrapper_errors.py`), which imports it; Python puts the script's own folder
first on `sys.path`.
"""

MAX_ERROR = 4000


def describe(e):
    """One readable line for the error, naming the step that failed. MetaGPT re-raises a role's error as
    `Exception(<traceback text>)` (the real one is its `__context__`) and tenacity wraps the last attempt's
    error in `RetryError`s; both are unwrapped here."""
    name = type(e).__name__
    if name == "NoMoneyException":
        return f"budget exhausted: {str(e).strip()}"[:MAX_ERROR]
    root, attempts = root_cause(e)
    step = failed_step(e)
    at = f" at step {step}" if step else ""
    reason = f"{type(root).__name__}: {one_line(root)}"
    if is_api_error(root):
        message = f"the LLM call{at} failed and the gateway gave up on it: {one_line(root)}"
    elif attempts:
        message = (
            f"the LLM's answers could not be parsed{at} after {attempts} attempts (last: {reason}); the model "
            "does not answer in the format MetaGPT expects, so try a stronger model (LLM_MODEL)"
        )
    else:
        message = f"{reason}{at}"
    return message[:MAX_ERROR]


def root_cause(e):
    """The innermost error and the attempts of the outermost retry it went through (None: no retry)."""
    attempts = None
    seen = set()
    while id(e) not in seen:
        seen.add(id(e))
        if type(e).__name__ == "RetryError" and hasattr(e, "last_attempt"):
            attempts = attempts or e.last_attempt.attempt_number
            inner = e.last_attempt.exception()
        else:
            inner = e.__cause__ or (e.__context__ if type(e) is Exception else None)
        if inner is None:
            break
        e = inner
    return e, attempts


def is_api_error(e):
    return any(c.__module__.split(".")[0] in ("openai", "httpx") for c in type(e).__mro__[:-1])


def failed_step(e):
    """`Action (Role profile)` of the outermost MetaGPT action on the failing stack, if any."""
    from metagpt.actions.action import Action
    from metagpt.roles.role import Role

    action = role = None
    chain, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    for error in chain:
        tb = error.__traceback__
        while tb is not None:
            owner = tb.tb_frame.f_locals.get("self")
            if role is None and isinstance(owner, Role):
                role = getattr(owner, "profile", None) or type(owner).__name__
            if action is None and isinstance(owner, Action):
                action = type(owner).__name__
            tb = tb.tb_next
    if action is None:
        return None
    return f"{action} ({role})" if role else action


def one_line(e):
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if lines else type(e).__name__
