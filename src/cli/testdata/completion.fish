# infra completion for fish: infra completion fish | source
function __infra_complete
    set -l words (commandline -opc)
    set -e words[1]
    set -l current (commandline -ct)
    infra __complete $words "$current" 2>/dev/null
end
complete -c infra -f -a '(__infra_complete)'
