"""A warm `python -m lossbench` for the tests: one server process imports torch, Lightning, Hydra and
lossbench once (about 3.5 s of a fresh interpreter's start), then forks a child for each command.

The child is a new process like any `python -m lossbench ARGS`: its own working directory (first on
sys.path, then the environment's PYTHONPATH entries, as `-m` sets them), the environment the test
gives it, stdin from /dev/null, stdout and stderr to files, `sys.argv` as
`-m lossbench` sets it, and lossbench's console entry point (`lossbench.cli.run`); at the end it
runs the atexit handlers and exits with the command's exit code. Nothing is shared with the next
command: each child is discarded. What a fork cannot give is left to real interpreters (tests/
conftest.py `run_cli(..., fresh=True)`, and any command that starts DDP ranks: Lightning re-runs
`sys.argv` under `__main__`, which here would be this server). The server runs no torch operation
before forking, so no OpenMP or autograd thread pool exists in it to be inherited half-started.

Protocol, one JSON object a line: the test writes {"argv", "env", "cwd", "stdout", "stderr"}; the
server answers {"pid"} when the child has started and {"pid", "returncode"} when it has ended.
"""
from __future__ import annotations

import io
import json
import os
import sys


def _child(request: dict) -> None:
    """In the forked child: become `python -m lossbench ARGV` and never return."""
    code = 1
    try:
        os.setpgid(0, 0)  # its own process group: a timeout kills it and whatever it started
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # What `python -m` puts first on sys.path: the working directory, then PYTHONPATH's entries
        # (this server's own PYTHONPATH entries are already there, after its script's folder).
        given = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[0:1] = [os.getcwd(), *[p for p in given if p not in sys.path]]
        import importlib

        importlib.invalidate_caches()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        # PYTHONUNBUFFERED=1 for a fresh interpreter: unbuffered text streams on the new descriptors
        sys.stdin = open(0, closefd=False)
        sys.stdout, sys.stderr = (io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), write_through=True)
                                  for fd in (1, 2))
        sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr
        import lossbench.__main__ as entry

        sys.argv = [entry.__file__, *request["argv"]]
        from lossbench import hardware

        hardware.cpu_flags.cache_clear()  # the test's environment may fake another CPU
        try:
            from lossbench.cli import run

            run()
            code = 0
        except SystemExit as err:
            code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
        except BaseException:  # noqa: BLE001 -- an uncaught exception: Python prints it and exits 1
            import traceback

            traceback.print_exc()
            code = 1
        import atexit

        atexit._run_exitfuncs()  # what the interpreter runs at exit (logging, wandb, tensorboard)
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 -- the server's own failure to start the command: say why
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def serve() -> None:
    import lightning  # noqa: F401 -- the imports every command pays for, paid once here
    import torch  # noqa: F401

    import lossbench.cli  # noqa: F401
    import lossbench.train  # noqa: F401
    import lossbench.module  # noqa: F401
    import lossbench.callbacks  # noqa: F401
    import lossbench.losses  # noqa: F401
    import lossbench.models  # noqa: F401
    import lossbench.data  # noqa: F401
    import lossbench.sweep  # noqa: F401
    import lossbench.report  # noqa: F401
    import hydra  # noqa: F401

    requests, answers = sys.stdin, sys.stdout
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in requests:
        request = json.loads(line)
        answers.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"pid": pid, "returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()
