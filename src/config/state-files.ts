// Writing the files the relay makes for itself (the generated TLS certificate,
// the pid file) so that a reader never sees half a file.
import { rename, rm, writeFile } from "node:fs/promises";

/** Writes to a temporary file beside `path`, then renames it over `path`. */
export async function writeFileAtomically(path: string, data: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  // A leftover from a crash could have a wider mode, which "w" would keep.
  await rm(temp, { force: true });
  await writeFile(temp, data, { mode, flag: "wx" });
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
