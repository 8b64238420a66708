// `turbowan register-commands [--guild <id>]`: publishes /video, /jobs and /cancel to Discord.
// A bulk overwrite (PUT), so running it twice changes nothing and removed commands disappear.
// --guild updates one server at once (development); without it the commands are global.
import { loadConfig } from "../../config.js";
import { commandDefinitions } from "../../../bot/discord/commands/index.js";
import { createDiscordApi, type DiscordApi } from "../../../bot/discord/api.js";
import { DEFAULT_DISCORD_API_BASE } from "../../../bot/config.js";
import { parseFlags, UsageError, type Command } from "../command.js";

const usage = `usage: turbowan register-commands [--guild <id>] [--dry-run]

  --guild <id>   register in one server only (instant; for development)
  --dry-run      print the command JSON instead of sending it

Global registration (no --guild) is what production uses. Needs DISCORD_APPLICATION_ID and
DISCORD_BOT_TOKEN (DISCORD_API_BASE optional).`;

export async function registerCommands(opts: { api: DiscordApi; applicationId: string; guildId?: string }): Promise<string[]> {
  const result = await opts.api.putCommands(opts.applicationId, commandDefinitions(), opts.guildId);
  return (result as { name: string }[]).map((c) => c.name);
}

export const registerCommandsCommand: Command = {
  name: "register-commands",
  summary: "register the Discord slash commands (global, or one guild with --guild)",
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, { guild: { type: "string" }, "dry-run": { type: "boolean" } });
    if (values.guild !== undefined && !/^\d{5,25}$/.test(values.guild)) throw new UsageError("--guild must be a server id (digits; Discord → right-click the server → Copy Server ID).");
    if (values["dry-run"]) {
      console.log(JSON.stringify(commandDefinitions(), null, 2));
      return 0;
    }
    const config = loadConfig();
    const discord = config.discord;
    const botToken = discord?.botToken ?? process.env.DISCORD_BOT_TOKEN;
    if (!discord) throw new UsageError("set DISCORD_APPLICATION_ID and DISCORD_PUBLIC_KEY (Developer Portal → General Information).");
    if (!botToken) throw new UsageError("set DISCORD_BOT_TOKEN to the bot's token (Developer Portal → Bot) to register commands.");
    const api = createDiscordApi({ apiBase: discord.apiBase ?? DEFAULT_DISCORD_API_BASE, botToken });
    const names = await registerCommands({ api, applicationId: discord.applicationId, guildId: values.guild });
    console.log(`registered ${names.map((n) => `/${n}`).join(", ")} ${values.guild ? `in guild ${values.guild}` : "globally (may take up to an hour to show everywhere)"}`);
    return 0;
  },
};
