// `turbowan <command> [flags]`: finds the command and runs it; usage and config errors exit 2
// with a message that says what to fix.
import { ConfigError } from "../config.js";
import { UsageError, type Command } from "./command.js";
import { commands } from "./commands/index.js";

function help(list: Command[]): string {
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    "usage: turbowan <command> [flags]",
    "",
    "commands:",
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "`turbowan <command> --help` shows a command's flags. Configuration comes from TURBOWAN_* variables (docs/local.md).",
  ].join("\n");
}

export async function main(argv: string[], list: Command[] = commands): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(help(list));
    return name ? 0 : 2;
  }
  const command = list.find((c) => c.name === name);
  if (!command) {
    console.error(`turbowan: unknown command "${name}".\n\n${help(list)}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`turbowan ${name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    console.error(`turbowan ${name}: ${(err as Error).message ?? err}`);
    return 1;
  }
}
