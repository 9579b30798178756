import { useEffect, useId, useRef, type ReactNode } from 'react';
import { useSubmit } from '../lib/hooks';
import { Button } from './Button';
import { ErrorNotice } from './Feedback';
import { Icon } from './Icon';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

interface DialogProps {
  title: string;
  /** Called on Escape, the close button, or a click on the backdrop. */
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  /** Wraps the body and footer in a form; Enter submits. */
  onSubmit?: () => void;
  size?: 'md' | 'lg';
}

/**
 * A modal dialog: the rest of the page is inert, Tab cycles inside, Escape closes, and focus
 * returns to what had it before.
 */
function Dialog({ title, onClose, children, footer, onSubmit, size = 'md' }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current!;
    const previous = document.activeElement as HTMLElement | null;
    if (!dialog.open) dialog.showModal();
    // Focus the first field (or the first button) rather than the close button.
    const first =
      dialog.querySelector<HTMLElement>('[data-autofocus]') ??
      dialog.querySelector<HTMLElement>('input, select, textarea') ??
      dialog.querySelector<HTMLElement>('.dialog-footer button, .dialog-body button');
    first?.focus();
    const onCancel = (e: Event) => {
      e.preventDefault();
      closeRef.current();
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Tab') return;
      const items = [...dialog.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
        (el) => el.offsetParent !== null,
      );
      if (items.length === 0) return;
      const firstItem = items[0]!;
      const lastItem = items[items.length - 1]!;
      if (e.shiftKey && document.activeElement === firstItem) {
        e.preventDefault();
        lastItem.focus();
      } else if (!e.shiftKey && document.activeElement === lastItem) {
        e.preventDefault();
        firstItem.focus();
      }
    };
    dialog.addEventListener('cancel', onCancel);
    dialog.addEventListener('keydown', onKey);
    return () => {
      dialog.removeEventListener('cancel', onCancel);
      dialog.removeEventListener('keydown', onKey);
      if (dialog.open) dialog.close();
      previous?.focus?.();
    };
  }, []);

  const body = (
    <>
      <div className="dialog-body">{children}</div>
      {footer && <div className="dialog-footer">{footer}</div>}
    </>
  );

  return (
    <dialog
      ref={ref}
      className={`dialog dialog-${size}`}
      aria-labelledby={titleId}
      onMouseDown={(e) => {
        // A press on the backdrop (the dialog element itself, outside its box) closes.
        if (e.target === ref.current) {
          const r = ref.current.getBoundingClientRect();
          const inside =
            e.clientX >= r.left &&
            e.clientX <= r.right &&
            e.clientY >= r.top &&
            e.clientY <= r.bottom;
          if (!inside) onClose();
        }
      }}
    >
      <div className="dialog-header">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="icon-btn" aria-label="Close" onClick={onClose}>
          <Icon name="x" />
        </button>
      </div>
      {onSubmit ? (
        <form
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            onSubmit();
          }}
        >
          {body}
        </form>
      ) : (
        body
      )}
    </dialog>
  );
}

/** A form in a dialog: its fields, then Cancel and the submit button (busy while it runs). */
export function FormDialog({
  title,
  onClose,
  onSubmit,
  submitLabel,
  busy,
  disabled,
  size,
  children,
}: {
  title: string;
  onClose: () => void;
  onSubmit: () => void;
  submitLabel: string;
  busy: boolean;
  disabled?: boolean;
  size?: 'md' | 'lg';
  children: ReactNode;
}) {
  return (
    <Dialog
      title={title}
      onClose={onClose}
      onSubmit={onSubmit}
      size={size}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy} disabled={disabled}>
            {submitLabel}
          </Button>
        </>
      }
    >
      <div className="stack">{children}</div>
    </Dialog>
  );
}

/** What a finished action made and shows only once (a password, a key), closed with Done. */
export function DoneDialog({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
}) {
  return (
    <Dialog
      title={title}
      onClose={onClose}
      footer={
        <Button variant="primary" onClick={onClose}>
          Done
        </Button>
      }
    >
      <div className="stack">{children}</div>
    </Dialog>
  );
}

/** Asks before something that cannot be undone; shows the API's error if it fails. */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
  danger = true,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  /** Resolves when done; the dialog then closes. A rejection is shown in the dialog. */
  onConfirm: (signal: AbortSignal) => Promise<void>;
  onClose: () => void;
  danger?: boolean;
}) {
  const { busy, error, submit } = useSubmit();
  return (
    <Dialog
      title={title}
      onClose={onClose}
      onSubmit={() =>
        submit(async (signal) => {
          await onConfirm(signal);
          onClose();
        })
      }
      footer={
        <>
          <Button onClick={onClose} data-autofocus={danger || undefined}>
            Cancel
          </Button>
          <Button
            type="submit"
            variant={danger ? 'danger' : 'primary'}
            busy={busy}
            data-autofocus={!danger || undefined}
          >
            {confirmLabel}
          </Button>
        </>
      }
    >
      <div className="confirm-text">{children}</div>
      {error !== undefined && <ErrorNotice title={`${confirmLabel} failed`} error={error} />}
    </Dialog>
  );
}
