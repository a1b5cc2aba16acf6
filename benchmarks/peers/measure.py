"""Run a command in a child process and measure its wall time and peak memory.

Standard library only, so it works from the main venv (.venv) and from
benchmarks/.venv-peers alike. Running every fit in its own process measures
Synthera and the peer synthesizers the same way. Each run reports the wall
seconds from fork to exit, and the peak resident set size that the kernel gives
for the command through ``os.wait4`` (``ru_maxrss``, KiB on Linux).

Why there is a shim: on Linux a process's ``ru_maxrss`` keeps the high-water mark of
the memory it had before ``exec``. A child forked straight from a large parent
(say a benchmark driver holding 800 MiB of data) reports at least the parent's size,
even for ``/bin/false``. So ``measure`` starts a tiny ``python -I -S`` shim
(about 7 MiB), and the shim forks and execs the command. The shim waits for the
command with ``os.wait4`` and passes the command's own rusage back through a pipe.
The floor of ``peak_rss_mib`` is therefore about 7 MiB, whatever the caller's size.

``ru_maxrss`` is the peak of the largest single process among the command and the
descendants it waited for. Memory held at the same time by several processes is not
summed; SDV's CTGAN, for example, starts two joblib (loky) workers of about 0.5 GB each.
So ``measure`` also samples /proc every ``poll_s`` seconds and sums the RSS of every
process in the command's session. The largest sum is ``peak_tree_rss_mib``, and it is
never less than ``peak_rss_mib``. It can miss spikes shorter than ``poll_s``, and it
counts shared pages once per process.

Python (from a script in benchmarks/, such as benchmarks/tabular.py, whose folder is on
``sys.path``)::

    from peers.measure import measure
    m = measure(["python", "fit.py"], timeout=3600)
    m["wall_s"], m["peak_rss_mib"], m["peak_tree_rss_mib"], m["returncode"]

Command line (the JSON goes to stderr after the command's own output; --json also writes it)::

    python benchmarks/peers/measure.py [--json OUT.json] [--timeout S] -- CMD [ARG ...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# Runs in a fresh, small interpreter: fork + exec the command, wait4 it, and write
# "exitcode wall_s maxrss_kib user_s sys_s" to the pipe whose fd is argv[1].
_SHIM = r"""
import os, sys, time
fd = int(sys.argv[1]); cmd = sys.argv[2:]
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.execvp(cmd[0], cmd)
    except OSError as e:
        os.write(2, ("measure: cannot run %s: %s\n" % (cmd[0], e)).encode())
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t
code = os.waitstatus_to_exitcode(status)
os.write(fd, ("%d %r %d %r %r" % (code, wall, ru.ru_maxrss, ru.ru_utime, ru.ru_stime)).encode())
sys.exit(code if code >= 0 else 128 - code)
"""


_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _session_rss_kib(sid: int) -> int:
    """Sum of RSS (KiB) over the processes in session ``sid``, leaving out the shim itself."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == sid:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()  # fields after "(comm)"
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[3]) == sid:  # field 6 of stat, the session id
            total += int(fields[21]) * _PAGE_KIB  # field 24, rss in pages
    return total


def measure(cmd, *, cwd=None, env=None, timeout=None, stdout=None, stderr=None, poll_s=0.2) -> dict:
    """Run ``cmd`` to completion and measure it.

    Parameters
    ----------
    cmd : sequence of str
        The command and its arguments (no shell; looked up on ``PATH``).
    cwd, env
        Passed to :class:`subprocess.Popen`.
    timeout : float, optional
        Seconds after which the command's whole process group is killed (SIGKILL).
    stdout, stderr
        Passed to :class:`subprocess.Popen` (a file object, ``subprocess.DEVNULL``,
        or None to inherit).
    poll_s : float
        Sampling interval for ``peak_tree_rss_mib``; 0 turns the sampling off.

    Returns
    -------
    dict
        ``cmd``, ``returncode`` (negative: killed by that signal), ``wall_s``,
        ``peak_rss_mib`` (largest single process), ``peak_tree_rss_mib`` (largest sum
        over the command's processes; None without /proc), ``user_s``, ``sys_s`` and
        ``timed_out``. After a timeout or an interrupted run, the rusage fields are
        None and ``wall_s`` is the caller's own clock.
    """
    cmd = [str(c) for c in cmd]
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    # A new session gives the shim and the command their own process group, so a
    # timeout kills the command's workers too.
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _SHIM, str(write_fd), *cmd],
        cwd=cwd, env=env, stdout=stdout, stderr=stderr, pass_fds=(write_fd,), start_new_session=True,
    )
    os.close(write_fd)
    timed_out = False
    sample = poll_s > 0 and os.path.isdir("/proc")
    peak_tree_kib = 0
    deadline = None if timeout is None else start + timeout
    try:
        while True:
            if sample:
                peak_tree_kib = max(peak_tree_kib, _session_rss_kib(proc.pid))
            left = None if deadline is None else deadline - time.perf_counter()
            if left is not None and left <= 0:
                timed_out = True
                break
            wait = poll_s if sample else left
            if left is not None:
                wait = min(wait, left)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                pass
    finally:
        if proc.returncode is None:  # timeout, or Ctrl-C in the caller: leave nothing running
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    wall = time.perf_counter() - start
    with os.fdopen(read_fd, "rb") as pipe:
        report = pipe.read().decode().split()
    result = {"cmd": cmd, "returncode": proc.returncode, "wall_s": round(wall, 3), "peak_rss_mib": None,
              "peak_tree_rss_mib": round(peak_tree_kib / 1024, 1) if sample else None,
              "user_s": None, "sys_s": None, "timed_out": timed_out}
    if len(report) == 5:
        code, wall_s, maxrss_kib, user_s, sys_s = report
        result.update(returncode=int(code), wall_s=round(float(wall_s), 3),
                      peak_rss_mib=round(int(maxrss_kib) / 1024, 1),
                      peak_tree_rss_mib=round(max(peak_tree_kib, int(maxrss_kib)) / 1024, 1) if sample else None,
                      user_s=round(float(user_s), 3), sys_s=round(float(sys_s), 3))
    return result


def main(argv=None) -> int:
    """Command-line entry point; returns the command's exit code (128+N if killed by signal N)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the measurement here")
    parser.add_argument("--timeout", type=float, help="kill the command after this many seconds")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG ...]")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("give the command after --")
    result = measure(cmd, timeout=args.timeout)
    text = json.dumps(result, indent=2)
    print(text, file=sys.stderr)
    if args.json:
        args.json.write_text(text + "\n")
    rc = result["returncode"]
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main())
