// Every `turbowan` command, one file each. Add yours to this list.
import type { Command } from "../command.js";
import { fetchWeights } from "./fetch-weights.js";
import { gateway } from "./gateway.js";
import { generate } from "./generate.js";
import { jobs } from "./jobs.js";
import { registerCommandsCommand } from "./register-commands.js";
import { serve } from "./serve.js";
import { worker } from "./worker.js";

export const commands: Command[] = [generate, serve, worker, gateway, jobs, fetchWeights, registerCommandsCommand];
