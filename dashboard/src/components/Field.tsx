import { cloneElement, useId, type ReactElement, type ReactNode } from 'react';
import type { SearchBox } from '../lib/hooks';
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

/** A labelled search box of a filter bar, its text kept in the address (`useSearchBox`). */
export function FilterSearch({
  label,
  box,
  placeholder,
}: {
  label: string;
  box: SearchBox;
  placeholder?: string;
}) {
  return (
    <label className="inline-field">
      <span>{label}</span>
      <input
        type="search"
        value={box.text}
        onChange={(e) => box.setText(e.target.value)}
        placeholder={placeholder}
        autoComplete="off"
      />
    </label>
  );
}

/** A list's search box, in its toolbar: the label is for screen readers, the placeholder says what it searches. */
export function ListSearch({
  label,
  box,
  placeholder,
}: {
  label: string;
  box: SearchBox;
  placeholder: string;
}) {
  return (
    <div className="toolbar">
      <label className="search">
        <span className="sr-only">{label}</span>
        <input
          type="search"
          placeholder={placeholder}
          value={box.text}
          onChange={(e) => box.setText(e.target.value)}
        />
      </label>
    </div>
  );
}
