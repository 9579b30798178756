import type { Command } from 'commander';
import { CliError, type CliIO } from '../context.js';

/** Every command path and its options, from the program itself (so completion never drifts). */
function words(cmd: Command): { commands: string[]; sub: Record<string, string[]> } {
  const commands = cmd.commands.map((c) => c.name());
  const sub: Record<string, string[]> = {};
  for (const c of cmd.commands) {
    sub[c.name()] = [
      ...c.commands.map((s) => s.name()),
      ...c.options
        .filter((o) => !o.hidden)
        .map((o) => o.long!)
        .filter(Boolean),
    ];
  }
  return { commands, sub };
}

/** `infra completion bash|zsh`: a completion script for commands, subcommands and options. */
export async function completion(io: CliIO, program: Command, shell: string): Promise<void> {
  const { commands, sub } = words(program);
  const cases = Object.entries(sub)
    .filter(([, w]) => w.length > 0)
    .map(([name, w]) => `    ${name}) COMPREPLY=( $(compgen -W "${w.join(' ')}" -- "$cur") ) ;;`)
    .join('\n');
  const bash = `# infra completion for bash
_infra() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${commands.join(' ')}" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
}
complete -F _infra infra
`;
  if (shell === 'bash') io.stdout.write(bash);
  else if (shell === 'zsh') io.stdout.write(`autoload -U +X bashcompinit && bashcompinit\n${bash}`);
  else throw new CliError(`No completion for ${shell}; use bash or zsh`, 2);
}
