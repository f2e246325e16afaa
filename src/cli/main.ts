#!/usr/bin/env node
// The kmip2pkcs11 command (package.json "bin").
import { runCli } from "./cli.js";

// `pidof kmip2pkcs11`, ps and top show the relay by its name, not as "node".
process.title = "kmip2pkcs11";

// Exit explicitly: a stopped relay may leave handles (a module host process
// being reaped, a syslog pipe) that would otherwise keep the process alive.
process.exit(await runCli(process.argv.slice(2), { io: process }));
