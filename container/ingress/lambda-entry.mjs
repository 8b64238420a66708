// The Lambda handler of the ingress image (copied to /var/task/lambda-entry.mjs beside the
// JavaScript that container/ingress/compile.sh produced). It loads the app secret (Discord/GitHub
// keys, TURBOWAN_SECRETS_ID) into the environment once per cold start, then imports the hono app,
// whose configuration is read at import time.
import { loadSecretsIntoEnv } from "./functions/cloud/secrets.js";

await loadSecretsIntoEnv(process.env.TURBOWAN_SECRETS_ID);
const { handler } = await import("./functions/ingress/lambda.js");

export { handler };
