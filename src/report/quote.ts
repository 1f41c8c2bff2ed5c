/** SAFE is the set of characters a POSIX shell word may hold unquoted. */
const SAFE = /^[A-Za-z0-9_\/.,:=@%+^-]+$/;

/**
 * shellQuote returns `arg` as one POSIX shell word: unquoted when safe, else single-quoted; control
 * characters (newlines, tabs) use bash's $'...' form so that a quoted command stays on one line.
 */
export function shellQuote(arg: string): string {
  if (SAFE.test(arg)) return arg;
  if (!/[\x00-\x1f\x7f]/.test(arg)) return `'${arg.replace(/'/g, `'\\''`)}'`;
  const escaped = arg.replace(/[\\'\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case '\\': return '\\\\';
      case "'": return "\\'";
      case '\n': return '\\n';
      case '\t': return '\\t';
      case '\r': return '\\r';
      default: return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
  return `$'${escaped}'`;
}

/** shellQuoteLine quotes for `sh -c`: POSIX single quotes only (sh has no $'...'), newlines kept. */
export function shellQuotePosix(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** commandLine renders argv as a shell command line. */
export function commandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
