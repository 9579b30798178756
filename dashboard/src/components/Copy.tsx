import { useEffect, useRef, useState } from 'react';
import { Icon } from './Icon';

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard permission refused: fall back to a selection the user can copy.
    return false;
  }
}

/**
 * Copies `text`; says "Copied" for a moment (also to screen readers). `name` tells one button
 * from others like it (a copy button on each row).
 */
export function CopyButton({
  text,
  label = 'Copy',
  name,
}: {
  text: string;
  label?: string;
  name?: string;
}) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return (
    <button
      type="button"
      className="btn btn-secondary btn-sm copy-btn"
      aria-label={name}
      onClick={async () => {
        setState((await copyText(text)) ? 'copied' : 'failed');
        clearTimeout(timer.current);
        timer.current = setTimeout(() => setState('idle'), 2000);
      }}
    >
      <Icon name={state === 'copied' ? 'check' : 'copy'} size={14} />
      <span aria-live="polite">
        {state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy' : label}
      </span>
    </button>
  );
}

/** A secret shown once: monospace, selectable, with a copy button and a warning. */
export function SecretValue({ label, value }: { label: string; value: string }) {
  return (
    <div className="secret">
      <div className="secret-label">{label}</div>
      <div className="secret-row">
        <code className="secret-value" tabIndex={0} aria-label={label}>
          {value}
        </code>
        <CopyButton text={value} />
      </div>
    </div>
  );
}

/** A shell snippet with a copy button. */
export function CodeBlock({ code, label }: { code: string; label: string }) {
  return (
    <div className="codeblock">
      <div className="codeblock-head">
        <span>{label}</span>
        <CopyButton text={code} name={`Copy: ${label}`} />
      </div>
      <pre tabIndex={0} aria-label={label}>
        <code>{code}</code>
      </pre>
    </div>
  );
}
