// Preloaded into the relay (NODE_OPTIONS="--import .../cpu-profile-hook.js")
// when the benchmark profiles it. `node --cpu-prof` does the same but is not
// allowed in NODE_OPTIONS, and the relay is started as users start it, by its
// own command line; so this starts V8's sampling profiler through the
// inspector and writes a .cpuprofile (Chrome DevTools format, as --cpu-prof
// does) when the process exits. The module's child process inherits
// NODE_OPTIONS and is profiled too.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

const dir = process.env.KMIP2PKCS11_CPU_PROFILE_DIR;
if (dir !== undefined) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  // Microseconds; V8's default is 1000. Finer sampling sees per-request costs of tens of microseconds.
  session.post("Profiler.setSamplingInterval", { interval: 100 });
  session.post("Profiler.start");
  // An in-process session answers synchronously, so this completes inside the exit handler.
  process.on("exit", () => {
    session.post("Profiler.stop", (error, result) => {
      if (error === null) writeFileSync(join(dir, `${process.argv[1]?.endsWith("child.js") ? "module" : process.argv[1]?.endsWith("worker-main.js") ? "worker" : "relay"}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
