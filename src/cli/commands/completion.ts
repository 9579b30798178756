import type { Command, Option } from 'commander';
import { CliError, type CliIO } from '../context.js';
import { currentServer, readState } from '../state.js';

/**
 * The shell scripts only hand the words typed so far to `infra __complete`, which answers from
 * the program itself (so completion never drifts from the commands) and from ~/.infra/config
 * (names, with no network call). The current word is always passed, empty or not.
 */
const SCRIPTS: Record<string, string> = {
  bash: `# infra completion for bash: source <(infra completion bash)
_infra() {
  COMPREPLY=( $(infra __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) )
}
complete -F _infra infra
`,
  fish: `# infra completion for fish: infra completion fish | source
function __infra_complete
    set -l words (commandline -opc)
    set -e words[1]
    set -l current (commandline -ct)
    infra __complete $words "$current" 2>/dev/null
end
complete -c infra -f -a '(__infra_complete)'
`,
};
SCRIPTS.zsh = `# infra completion for zsh: source <(infra completion zsh)
autoload -U +X bashcompinit && bashcompinit
${SCRIPTS.bash!.replace(/^# .*\n/, '')}`;

/** `infra completion bash|zsh|fish`: prints the completion script for that shell. */
export function completion(io: CliIO, shell: string): void {
  const script = SCRIPTS[shell];
  if (!script) throw new CliError(`No completion for ${shell}; use bash, zsh or fish`, 2);
  io.stdout.write(script);
}

const takesValue = (o: Option) => o.required || o.optional;

function findOption(cmd: Command, flag: string): Option | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const found = c.options.find((o) => o.long === flag || o.short === flag);
    if (found) return found;
  }
  return undefined;
}

/** Names `infra use` takes: `prod` for the context infra:prod, `prod.web` for infra:prod:web. */
function destinations(env: NodeJS.ProcessEnv): string[] {
  const contexts = currentServer(readState(env))?.kubeconfig?.contexts ?? [];
  return contexts.map((c) => c.replace(/^infra:/, '').replace(':', '.'));
}

/** Servers `infra login` and `logout` take, as people type them (no https://). */
function servers(env: NodeJS.ProcessEnv): string[] {
  return readState(env).servers.map((s) => s.url.replace(/^https:\/\//, ''));
}

const NAMES: Record<string, (env: NodeJS.ProcessEnv) => string[]> = {
  use: destinations,
  login: servers,
  logout: servers,
};

/**
 * What `infra WORDS... CURRENT` may complete to: an option's choices after an option that takes
 * a value, options after `-`, else the subcommands and, for the command's first argument, the
 * names it takes.
 */
export function candidates(program: Command, words: string[], env: NodeJS.ProcessEnv): string[] {
  const current = words.at(-1) ?? '';
  let cmd = program;
  let args = 0;
  let pending: Option | undefined;
  for (const word of words.slice(0, -1)) {
    if (pending) {
      pending = undefined;
    } else if (word.startsWith('-')) {
      const option = findOption(cmd, word);
      if (option && takesValue(option)) pending = option;
    } else {
      const sub = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
      if (sub) {
        cmd = sub;
        args = 0;
      } else args++;
    }
  }
  let found: string[];
  if (pending) found = pending.argChoices ?? [];
  else if (current.startsWith('-')) {
    found = [];
    for (let c: Command | null = cmd; c; c = c.parent)
      for (const o of c.options)
        if (!o.hidden) found.push(...[o.short, o.long].filter((f): f is string => Boolean(f)));
    found.push('--help');
  } else {
    const names = cmd.parent === program && args === 0 ? NAMES[cmd.name()]?.(env) : undefined;
    found = [...cmd.commands.map((c) => c.name()), ...(names ?? [])];
  }
  return [...new Set(found)].filter((w) => w.startsWith(current));
}
