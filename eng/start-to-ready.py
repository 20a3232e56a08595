#!/usr/bin/env python3
"""Start to READY=1 of two agent programs, side by side: they take turns starting `run` with a notify socket, an
empty share and the given model package; prints each round and the medians. Used to compare the self-contained
release with the framework-dependent build (absolute times here move up to 2x between days; the ratio is the claim).
  eng/start-to-ready.py PROGRAM_A PROGRAM_B MODEL_PACKAGE [ROUNDS]
"""
import os, socket, statistics, subprocess, sys, tempfile, time

a, b, model = sys.argv[1:4]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5


def ready_seconds(program):
    with tempfile.TemporaryDirectory() as work:
        os.mkdir(os.path.join(work, "share"))
        notify = os.path.join(work, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify)
        sock.settimeout(300)
        start = time.monotonic()
        p = subprocess.Popen([program, "run", "--share", os.path.join(work, "share"), "--models", model, "--db", os.path.join(work, "e.db")],
                             env=dict(os.environ, NOTIFY_SOCKET=notify), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while b"READY=1" not in sock.recv(4096).split(b"\n"):
            pass
        elapsed = time.monotonic() - start
        p.terminate()
        p.wait()
        return elapsed


times = {a: [], b: []}
for r in range(rounds):
    for program in (a, b):
        times[program].append(ready_seconds(program))
    print(f"round {r + 1}: A {times[a][-1]:.2f} s, B {times[b][-1]:.2f} s, B/A {times[b][-1] / times[a][-1]:.2f}")
ma, mb = statistics.median(times[a]), statistics.median(times[b])
print(f"median start to READY: A {ma:.2f} s ({a}), B {mb:.2f} s ({b}); B/A {mb / ma:.2f}")
