# infra completion for zsh: source <(infra completion zsh)
autoload -U +X bashcompinit && bashcompinit
_infra() {
  COMPREPLY=( $(infra __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) )
}
complete -F _infra infra
