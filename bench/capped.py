"""Run a training script on its own, stopped after N optimizer steps (the plain baseline of bench/cost.py).

    python bench/capped.py N script.py

Only a global optimizer step post-hook is added (one counter increment per step), so the script runs
exactly the steps ``fitdoctor check`` lets it run, without any of fitdoctor's capture.
"""

import contextlib
import os
import runpy
import sys

from torch.optim import optimizer as optimizer_hooks


class _Done(BaseException):
    pass


def main() -> None:
    limit, script = int(sys.argv[1]), os.path.abspath(sys.argv[2])
    count = 0

    def hook(opt: object, args: object, kwargs: object) -> None:
        nonlocal count
        count += 1
        if count >= limit:
            raise _Done

    optimizer_hooks.register_optimizer_step_post_hook(hook)
    os.chdir(os.path.dirname(script))
    sys.argv = [script]
    sys.path.insert(0, os.path.dirname(script))
    with contextlib.suppress(_Done):
        runpy.run_path(script, run_name="__main__")
    print(f"capped-steps {count}", file=sys.stderr)


if __name__ == "__main__":
    main()
