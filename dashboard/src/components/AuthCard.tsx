import type { ReactNode } from 'react';
import { Logo } from './Icon';

/** The frame of the signed-out pages: a centred card under the product mark. */
export function AuthCard({
  title,
  subtitle,
  children,
  footer,
}: {
  title: string;
  subtitle?: ReactNode;
  children: ReactNode;
  footer?: ReactNode;
}) {
  return (
    <div className="auth">
      <main className="auth-main">
        <div className="auth-brand">
          <Logo size={36} />
          <span>Infra</span>
        </div>
        <div className="auth-card">
          <h1>{title}</h1>
          {subtitle && <p className="auth-subtitle">{subtitle}</p>}
          {children}
        </div>
        {footer && <div className="auth-footer">{footer}</div>}
      </main>
    </div>
  );
}
