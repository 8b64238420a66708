// The Lambda handler of the ingress image (copied to /var/task/lambda-entry.mjs). It loads the
// app secret (Discord/GitHub keys, TURBOWAN_SECRETS_ID) into the environment once per cold start,
// then imports the hono app, whose configuration is read at import time.
import { loadSecretsIntoEnv } from "./functions/cloud/secrets.ts";

await loadSecretsIntoEnv(process.env.TURBOWAN_SECRETS_ID);
const { handler } = await import("./functions/ingress/lambda.ts");

export { handler };
