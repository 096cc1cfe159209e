#!/usr/bin/env python3
"""A toy LLM agent that reports its token use to wlmtui and obeys the signal.

It does not call a real model: each "call" spends a random number of tokens.
Swap ``fake_llm_call`` for your client and keep the three wlmtui lines.

Try it against the sample multi-agent policy (paths under /run need root;
point them elsewhere with --signal-file/--counter-file, or edit the policy):

    wlmtui --no-ui sample_policies/agents.yaml &           # the budget keeper
    python examples/token_agent.py --class code-generator \\
        --signal-file /run/wlmtui/code-generator.signal.json \\
        --counter-file /run/wlmtui/counters.jsonl --calls 20

Behaviour per signal:
    green   make the call
    yellow  make only essential calls (here: every third task is essential)
    red     wait until the window resets (or --max-wait), then go on
    black   an operator's emergency stop: wait the same way, never call
A missing or stale signal file counts as green (``--fail-closed``: as red).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from wlmtui import agent


def fake_llm_call(task: int, rng: random.Random) -> tuple[str, int]:
    """Stand-in for a model call: returns (answer, tokens used)."""
    time.sleep(0.05)
    return f"answer to task {task}", max(1, int(rng.gauss(1200, 400)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--class", dest="cls", required=True, help="the agent's token class in the policy")
    p.add_argument("--signal-file", required=True)
    p.add_argument("--counter-file", required=True)
    p.add_argument("--model", default="gpt-4o")
    p.add_argument("--agent", default="example-agent")
    p.add_argument("--calls", type=int, default=10, help="tasks to work through")
    p.add_argument("--pause", type=float, default=0.5, help="seconds between tasks")
    p.add_argument("--max-wait", type=float, default=3600.0, help="longest wait on red/black, seconds")
    p.add_argument("--fail-closed", action="store_true", help="treat a stale/missing signal as red")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    fail_open = not args.fail_closed

    for task in range(args.calls):
        # 1. ask before calling: blocks while red/black
        try:
            sig = agent.wait_until_allowed(args.signal_file, timeout=args.max_wait, fail_open=fail_open)
        except agent.BudgetWaitTimeout as exc:
            print(f"task {task}: gave up waiting, signal still {exc.signal.signal}", file=sys.stderr)
            return 1
        essential = task % 3 == 0
        if sig.signal == "yellow" and not essential:
            print(f"task {task}: yellow — skipped (not essential)")
            time.sleep(args.pause)
            continue
        # 2. the call itself
        answer, used = fake_llm_call(task, rng)
        # 3. report what it cost
        agent.record(args.cls, used, model=args.model, agent=args.agent, counter_file=args.counter_file)
        doc = sig.document or {}
        note = " (stale signal)" if sig.stale else ""
        print(f"task {task}: {sig.signal}{note}, spent {used} tokens — "
              f"{doc.get('budget_remaining', '?')}/{doc.get('budget_total', '?')} left, "
              f"window resets in {doc.get('window_remaining', '?')}")
        time.sleep(args.pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
