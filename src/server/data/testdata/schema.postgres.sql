table migrations
  name character varying not null
  timestamp character varying not null
table migrations_lock
  id character varying not null
  is_locked integer not null default 0
table settings
  name text not null
  value text not null
  updated_at bigint not null
constraint migrations.migrations_pkey PRIMARY KEY (name)
constraint migrations_lock.migrations_lock_pkey PRIMARY KEY (id)
constraint settings.settings_pkey PRIMARY KEY (name)
CREATE UNIQUE INDEX migrations_pkey ON public.migrations USING btree (name);
CREATE UNIQUE INDEX migrations_lock_pkey ON public.migrations_lock USING btree (id);
CREATE UNIQUE INDEX settings_pkey ON public.settings USING btree (name);
