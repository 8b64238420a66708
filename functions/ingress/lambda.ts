// The ingress as an AWS Lambda function (hono's adapter): the cloud deployment's front door.
// Built once per container from the environment (TURBOWAN_QUEUE=sqs, TURBOWAN_STORE=s3).
import { handle } from "hono/aws-lambda";
import { loadConfig } from "../config.js";
import { createLogger } from "../log.js";
import { buildIngress } from "../cli/stack.js";

const config = loadConfig();
const log = createLogger({ level: config.logLevel, name: "turbowan-ingress" });
// The function URL is public and the console has no login: Discord and GitHub (which verify their
// own signatures) and /healthz only. Run the console with `turbowan serve` where you control access.
const { app } = await buildIngress(config, log, undefined, { console: false });

export const handler = handle(app);
