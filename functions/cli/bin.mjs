#!/usr/bin/env node
// The `turbowan` command. TypeScript runs through tsx's loader (no build step), registered here
// before the CLI's own modules load.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
process.exitCode = await main(process.argv.slice(2));
