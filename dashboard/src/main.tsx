import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

function App() {
  const [version, setVersion] = useState<string>();
  useEffect(() => {
    fetch('/api/version')
      .then((res) => res.json() as Promise<{ version: string }>)
      .then((body) => setVersion(body.version))
      .catch(() => setVersion(undefined));
  }, []);
  return (
    <main>
      <h1>Infra</h1>
      <p>The dashboard is on its way. Server version: {version ?? 'unknown'}</p>
    </main>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
