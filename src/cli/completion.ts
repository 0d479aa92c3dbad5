/**
 * `devmapper completion bash|zsh`: a completion script generated from the
 * program's own command tree (subcommands, aliases, options, option values
 * with fixed choices, files and directories for path options).
 *
 * The script is static: pressing TAB runs no node process (dynamic
 * completion libraries call the program on every TAB, which costs a node
 * start each time). Regenerate it after upgrading the package.
 */
import type { Command, Option } from 'commander';

/** The shells a script is made for. */
export const SHELLS = ['bash', 'zsh'] as const;
/** A shell a script is made for. */
export type Shell = (typeof SHELLS)[number];

/** What one command path completes to. */
interface Node {
  /** Space-separated command path, '' for the program. */
  path: string;
  /** Subcommand names and aliases. */
  subcommands: string[];
  /** Alias → canonical name. */
  aliases: Array<[string, string]>;
  /** Every option flag (long and short). */
  flags: string[];
  /** Flags that take a value. */
  valueFlags: string[];
  /** Flag → fixed choices. */
  choices: Array<[string, string[]]>;
  /** Flags whose value is a directory. */
  dirFlags: string[];
  /** Flags whose value is a file. */
  fileFlags: string[];
  /** The fixed choices of the first argument, if it has any. */
  argumentChoices: string[];
}

function flagsOf(option: Option): string[] {
  return [option.long, option.short].filter((f): f is string => typeof f === 'string');
}

function nodes(command: Command, trail: string[] = []): Node[] {
  const visible = command.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
  const options = command.options;
  const node: Node = {
    path: trail.join(' '),
    subcommands: visible.flatMap((c) => [c.name(), ...c.aliases()]),
    aliases: visible.flatMap((c) => c.aliases().map((a): [string, string] => [a, c.name()])),
    flags: [...options.flatMap(flagsOf), '--help', ...(trail.length === 0 ? ['--version'] : [])],
    valueFlags: options.filter((o) => o.required || o.optional).flatMap(flagsOf),
    choices: options.filter((o) => o.argChoices && o.argChoices.length > 0).flatMap((o) => flagsOf(o).map((f): [string, string[]] => [f, o.argChoices ?? []])),
    dirFlags: options.filter((o) => /<(dir|directory)>/.test(o.flags)).flatMap(flagsOf),
    fileFlags: options.filter((o) => /<(file|path|dev)>/.test(o.flags)).flatMap(flagsOf),
    argumentChoices: [...(command.registeredArguments[0]?.argChoices ?? [])],
  };
  return [node, ...visible.flatMap((c) => nodes(c, [...trail, c.name()]))];
}

const q = (words: readonly string[]): string => `'${words.join(' ').replaceAll("'", "'\\''")}'`;

function caseTable(all: readonly Node[], field: (n: Node) => string): string {
  return all.map((n) => `    ${q([n.path])}) echo ${field(n)} ;;`).join('\n');
}

/** Shell functions shared by both scripts: the data for each command path. */
function dataFunctions(name: string, all: readonly Node[]): string {
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  return `${fn}_subcommands() {
  case "$1" in
${caseTable(all, (n) => q(n.subcommands))}
  esac
}
${fn}_canonical() {
  case "$1" in
${all
  .filter((n) => n.aliases.length > 0)
  .map((n) => `    ${q([n.path])}) case "$2" in ${n.aliases.map(([a, c]) => `${a}) echo ${c}; return ;;`).join(' ')} esac ;;`)
  .join('\n')}
  esac
  echo "$2"
}
${fn}_words() {
  # Subcommands, or the first argument's fixed choices.
  case "$1" in
${caseTable(all, (n) => q(n.subcommands.length > 0 ? n.subcommands : n.argumentChoices))}
  esac
}
${fn}_flags() {
  case "$1" in
${caseTable(all, (n) => q(n.flags))}
  esac
}
${fn}_takes_value() {
  case "$1" in
${caseTable(all, (n) => q(n.valueFlags))}
  esac
}
${fn}_value_kind() {
  # prints: choices WORDS | dir | file | none
  case "$1" in
${all
  .map((n) => {
    const entries = [
      ...n.choices.map(([f, c]) => `${f}) echo choices ${c.join(' ')}; return ;;`),
      ...n.dirFlags.map((f) => `${f}) echo dir; return ;;`),
      ...n.fileFlags.map((f) => `${f}) echo file; return ;;`),
    ];
    return entries.length === 0 ? '' : `    ${q([n.path])}) case "$2" in ${entries.join(' ')} esac ;;`;
  })
  .filter(Boolean)
  .join('\n')}
  esac
  echo none
}
${fn}_path() {
  # The command path the words (program name first) lead to.
  local cmdpath="" skip=0 w sub
  shift
  for w in "$@"; do
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case "$w" in
      --*=*) continue ;;
      -*) case " $(${fn}_takes_value "$cmdpath") " in *" $w "*) skip=1 ;; esac; continue ;;
    esac
    case " $(${fn}_subcommands "$cmdpath") " in
      *" $w "*) sub=$(${fn}_canonical "$cmdpath" "$w"); cmdpath="\${cmdpath:+$cmdpath }$sub" ;;
    esac
  done
  echo "$cmdpath"
}`;
}

/** The bash script. */
function bashScript(name: string, all: readonly Node[]): string {
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  return `# bash completion for ${name}. Load it with:
#   source <(${name} completion bash)
# or save it as /etc/bash_completion.d/${name}.
${dataFunctions(name, all)}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmdpath kind
  [ "$COMP_CWORD" -gt 0 ] && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmdpath=$(${fn}_path "\${COMP_WORDS[@]:0:COMP_CWORD}")
  COMPREPLY=()
  case "$prev" in
    -*) case " $(${fn}_takes_value "$cmdpath") " in
      *" $prev "*)
        kind=$(${fn}_value_kind "$cmdpath" "$prev")
        case "$kind" in
          choices*) COMPREPLY=($(compgen -W "\${kind#choices }" -- "$cur")) ;;
          dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
          file) COMPREPLY=($(compgen -f -- "$cur")) ;;
        esac
        return 0 ;;
    esac ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_flags "$cmdpath")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(${fn}_words "$cmdpath")" -- "$cur"))
  fi
  return 0
}
complete -F ${fn} ${name}
`;
}

/** The zsh script. */
function zshScript(name: string, all: readonly Node[]): string {
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  return `#compdef ${name}
# zsh completion for ${name}. Load it with:
#   source <(${name} completion zsh)
# or save it as _${name} in a directory of $fpath.
${dataFunctions(name, all)}
${fn}() {
  local cur="\${words[CURRENT]}" prev="" cmdpath kind
  (( CURRENT > 1 )) && prev="\${words[CURRENT-1]}"
  cmdpath=$(${fn}_path "\${(@)words[1,CURRENT-1]}")
  if [[ "$prev" == -* && " $(${fn}_takes_value "$cmdpath") " == *" $prev "* ]]; then
    kind=$(${fn}_value_kind "$cmdpath" "$prev")
    case "$kind" in
      choices*) compadd -- \${=kind#choices } ;;
      dir) _files -/ ;;
      file) _files ;;
    esac
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    compadd -- \${=$(${fn}_flags "$cmdpath")}
  else
    compadd -- \${=$(${fn}_words "$cmdpath")}
  fi
}
compdef ${fn} ${name}
`;
}

/** The completion script for `shell`, from the program's command tree. */
export function completionScript(program: Command, shell: Shell): string {
  const all = nodes(program);
  return shell === 'bash' ? bashScript(program.name(), all) : zshScript(program.name(), all);
}
