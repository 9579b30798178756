import { cloneElement, useId, type ReactElement, type ReactNode } from 'react';
import { Icon } from './Icon';

interface FieldProps {
  label: ReactNode;
  /** A hint under the control. */
  hint?: ReactNode;
  /** The problem with the value (from the API's fieldErrors, or local checks). */
  error?: string;
  /** The input, select or textarea; it gets the id, aria-describedby and aria-invalid. */
  children: ReactElement<{
    id?: string;
    'aria-describedby'?: string;
    'aria-invalid'?: boolean;
  }>;
  optional?: boolean;
}

/** A labelled form control with its hint and error wired up for screen readers. */
export function Field({ label, hint, error, children, optional }: FieldProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : '', error ? errorId : ''].filter(Boolean).join(' ');
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id} className="field-label">
        {label}
        {optional && <span className="field-optional">optional</span>}
      </label>
      {cloneElement(children, {
        id,
        'aria-describedby': describedBy || undefined,
        'aria-invalid': error ? true : undefined,
      })}
      {hint && (
        <div id={hintId} className="field-hint">
          {hint}
        </div>
      )}
      {error && (
        <div id={errorId} className="field-error">
          <Icon name="alert" size={14} />
          {error}
        </div>
      )}
    </div>
  );
}
