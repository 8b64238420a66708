// Loads a Secrets Manager secret (a JSON object of environment variables, e.g. DISCORD_PUBLIC_KEY,
// GITHUB_PRIVATE_KEY) into process.env before the configuration is read. The Lambda ingress calls
// it once per cold start (container/ingress/lambda-entry.mjs) with TURBOWAN_SECRETS_ID; ECS tasks
// get the same keys injected by ECS itself, and a `docker run` host may use either.
// Variables already set win, so a local override never gets replaced by the cloud value.
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

export interface SecretReader {
  /** The secret's SecretString. */
  read(secretId: string): Promise<string>;
}

export function secretsManagerReader(opts: { region?: string; endpoint?: string } = {}): SecretReader {
  const client = new SecretsManagerClient({ region: opts.region, endpoint: opts.endpoint });
  return {
    async read(secretId) {
      const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      if (out.SecretString === undefined) throw new Error(`secret ${secretId} has no SecretString (binary secrets are not supported)`);
      return out.SecretString;
    },
  };
}

/** Returns the names it set (never the values). */
export async function loadSecretsIntoEnv(
  secretId: string | undefined,
  env: Record<string, string | undefined> = process.env,
  reader: SecretReader = secretsManagerReader({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL }),
): Promise<string[]> {
  if (!secretId) return [];
  const text = await reader.read(secretId);
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch {
    throw new Error(`secret ${secretId} is not JSON: store it as {"DISCORD_PUBLIC_KEY": "...", ...} (docs/deploy.md, "Secrets")`);
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    throw new Error(`secret ${secretId} must be a JSON object of environment variables (docs/deploy.md, "Secrets")`);
  }
  const set: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`secret ${secretId}: "${name}" is not an environment variable name`);
    if (typeof value !== "string") throw new Error(`secret ${secretId}: ${name} must be a string`);
    if (env[name] !== undefined && env[name] !== "") continue;
    if (value === "") continue;
    env[name] = value;
    set.push(name);
  }
  return set;
}
