/**
 * Configuration from a YAML file and environment variables, for any commander `Command`.
 *
 * One call, `withConfigFile(command)`, gives a subcommand:
 * - `--config FILE` (or `TILELOG_CONFIG=FILE`): a YAML mapping whose keys are the command's long option names in
 *   camelCase (`checkpointInterval: 1s`, `authSubject: [a, b]`, `readAuth: true`);
 * - environment variables `TILELOG_<OPTION_IN_UPPER_SNAKE>` (`TILELOG_CHECKPOINT_INTERVAL=1s`); a repeatable
 *   option takes a comma-separated list (`TILELOG_AUTH_SUBJECT=a,b`), a flag `true`/`false`/`1`/`0`.
 *
 * Precedence: flags > environment > file > defaults. A repeatable option takes its values from one source only
 * (flags replace the file's list, they do not add to it).
 *
 * Invariants: every value, wherever it comes from, goes through the option's own parser (commander's argParser,
 * `choices`), so an invalid value fails before the action runs, with a message naming the option and where the
 * value came from (`config file F, key k` / `environment variable TILELOG_K` / `flag --k`); a file key that is
 * not an option of the command fails naming the key. Required options (`requiredOption`) are satisfied by any
 * source. Values are applied right after commander parses the flags, before its check of required options.
 */
import { readFileSync } from 'node:fs';
import { type Command, type Option } from 'commander';
import { parseDocument } from 'yaml';

/** The prefix of the environment variables. */
export const ENV_PREFIX = 'TILELOG_';

/** Where an option's value came from, for messages. */
export type ValueOrigin = { readonly kind: 'file'; readonly file: string; readonly key: string } | { readonly kind: 'env'; readonly name: string };

/** A configuration error: names the option and where its value came from. Thrown before the command's action. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** `checkpointInterval` → `TILELOG_CHECKPOINT_INTERVAL`. */
export function envName(attributeName: string): string {
  return ENV_PREFIX + attributeName.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The option of `cmd` that the file key / attribute name `key` designates, if any. */
function optionByKey(cmd: Command, key: string): Option | undefined {
  return configurableOptions(cmd).find((o) => o.attributeName() === key);
}

/** The options that configuration may set: all long options but `--help`, `--version` and `--config`. */
function configurableOptions(cmd: Command): Option[] {
  return cmd.options.filter((o) => o.long !== undefined && o.long !== '--help' && o.long !== '--version' && o.long !== '--config');
}

function describe(origin: ValueOrigin): string {
  return origin.kind === 'file' ? `config file ${origin.file}, key ${origin.key}` : `environment variable ${origin.name}`;
}

/** Is this option a flag (takes no value)? */
function isFlag(o: Option): boolean {
  return !o.required && !o.optional;
}

/** Is this option repeatable (variadic, or its default is a list, as with an accumulating parser)? */
function isRepeatable(o: Option): boolean {
  return o.variadic || Array.isArray(o.defaultValue);
}

/** Turns a YAML scalar into the string a flag would have carried; rejects lists, mappings and null. */
function scalarText(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  throw new Error(`want a single value (string or number), got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v} for ${what}`);
}

/**
 * The value of option `o` from a raw configuration value (`raw` is the YAML value, or the environment string),
 * through the option's own parser. Throws a ConfigError naming the option and the origin.
 */
export function parseOptionValue(o: Option, raw: unknown, origin: ValueOrigin): unknown {
  const flag = o.long as string;
  try {
    if (isFlag(o)) {
      if (typeof raw === 'boolean') return raw;
      if (origin.kind === 'env' && typeof raw === 'string') {
        const s = raw.trim().toLowerCase();
        if (s === 'true' || s === '1') return true;
        if (s === 'false' || s === '0') return false;
      }
      throw new Error(`want true or false, got ${JSON.stringify(raw)}`);
    }
    if (isRepeatable(o)) {
      const items: unknown[] = Array.isArray(raw)
        ? raw
        : origin.kind === 'env' && typeof raw === 'string'
          ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
          : [raw];
      let acc: unknown = [];
      for (const item of items) {
        const text = scalarText(item, 'a list item');
        acc = o.parseArg !== undefined ? o.parseArg(text, acc) : [...(acc as unknown[]), text];
      }
      return acc;
    }
    if (raw === true && o.optional) return true;
    const text = scalarText(raw, flag);
    return o.parseArg !== undefined ? o.parseArg(text, o.defaultValue) : text;
  } catch (err) {
    throw new ConfigError(`invalid value for ${flag} (from ${describe(origin)}): ${(err as Error).message}`);
  }
}

/**
 * Reads a config file: a YAML mapping (an empty file is an empty mapping). YAML 1.2 core schema, so `yes`/`on`
 * are strings, not booleans; duplicate keys are an error.
 */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(`config file ${file} is not valid YAML: ${doc.errors[0]?.message ?? ''}`);
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`config file ${file}: want a mapping of option names to values`);
  return value as Record<string, unknown>;
}

/** Checks that every key of `values` is an option of `cmd`; the message names the first unknown key. */
function checkKeys(cmd: Command, values: Record<string, unknown>, file: string): void {
  for (const key of Object.keys(values)) {
    if (optionByKey(cmd, key) !== undefined) continue;
    const camel = key.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
    const hint = camel !== key && optionByKey(cmd, camel) !== undefined ? ` (write it in camelCase: ${camel})` : '';
    const known = configurableOptions(cmd).map((o) => o.attributeName()).join(', ');
    throw new ConfigError(`config file ${file}: unknown key ${JSON.stringify(key)}${hint}; the keys of \`${cmd.name()}\` are: ${known}`);
  }
}

/**
 * Applies the environment and the config file to `cmd`'s option values where no flag set them.
 * `env` defaults to process.env. Exported for tests and for commands that parse by hand.
 */
export function applyConfig(cmd: Command, env: NodeJS.ProcessEnv = process.env): void {
  const fromFlag = cmd.getOptionValueSource('config') === 'cli' ? (cmd.getOptionValue('config') as string | undefined) : undefined;
  const file = fromFlag ?? env[`${ENV_PREFIX}CONFIG`];
  const values = file !== undefined && file !== '' ? readConfigFile(file) : {};
  if (file !== undefined && file !== '') {
    checkKeys(cmd, values, file);
    cmd.setOptionValueWithSource('config', file, fromFlag !== undefined ? 'cli' : 'env');
  }
  for (const o of configurableOptions(cmd)) {
    const key = o.attributeName();
    if (cmd.getOptionValueSource(key) === 'cli') continue;
    const name = envName(key);
    const fromEnv = env[name];
    if (fromEnv !== undefined) {
      cmd.setOptionValueWithSource(key, parseOptionValue(o, fromEnv, { kind: 'env', name }), 'env');
    } else if (file !== undefined && Object.hasOwn(values, key)) {
      cmd.setOptionValueWithSource(key, parseOptionValue(o, values[key], { kind: 'file', file, key }), 'config');
    }
  }
}

/**
 * Gives `cmd` a `--config FILE` option and makes it read the file and `TILELOG_*` environment variables (see the
 * module comment). Call it once per command, before or after defining its options. Returns `cmd`.
 *
 * @example program.addCommand(withConfigFile(new Command('collect').option('--spool <dir>', '…')));
 */
export function withConfigFile<C extends Command>(cmd: C, env: NodeJS.ProcessEnv = process.env): C {
  cmd.option('--config <file>', `YAML file of options (keys: the long option names in camelCase); env ${ENV_PREFIX}CONFIG. Precedence: flags > ${ENV_PREFIX}<OPTION> environment variables > file > defaults`);
  const parseOptions = cmd.parseOptions.bind(cmd);
  // Commander parses the flags in parseOptions, then checks required options, then runs the action: applying the
  // file and environment right after parseOptions lets them satisfy required options and fail before anything runs.
  cmd.parseOptions = (args: string[]) => {
    const parsed = parseOptions(args);
    if (!args.includes('--help') && !args.includes('-h')) applyConfig(cmd, env);
    return parsed;
  };
  return cmd;
}
