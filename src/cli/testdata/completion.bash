# infra completion for bash: source <(infra completion bash)
_infra() {
  COMPREPLY=( $(infra __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) )
}
complete -F _infra infra
