table access_keys
  id text not null
  key_id text not null
  secret_hash text not null
  name text not null
  user_id text not null
  issued_via text not null
  scopes text not null default ''::text
  managed_by text not null default 'api'::text
  created_at bigint not null
  expires_at bigint not null
  inactivity_timeout bigint not null default 0
  inactivity_deadline bigint
  last_used_at bigint
  provider_id text
  parent_id text
table access_request_reviews
  request_id text not null
  reviewer_id text not null
  reviewer_name text not null
  decision text not null
  comment text not null
  created_at bigint not null
table access_requests
  id text not null
  user_id text not null
  policy_id text not null
  privilege text not null
  resource text not null
  duration bigint not null
  reason text not null
  state text not null
  created_at bigint not null
  expires_at bigint not null
  decided_at bigint
  grant_id text
  grant_expires_at bigint
table audit_head
  id integer not null
  seq bigint not null
  hash text not null
table audit_log
  seq bigint not null
  at bigint not null
  actor_id text
  actor_name text not null
  action text not null
  target_kind text not null
  target_id text
  target_name text
  source_ip text not null
  result text not null
  details text not null
  prev_hash text not null
  hash text not null
table changes
  idx bigint not null default nextval('changes_idx_seq'::regclass)
  destination text not null
  at bigint not null
  kind text not null default 'all'::text
  subject text
table credentials
  user_id text not null
  password_hash text not null
  one_time integer not null default 0
  updated_at bigint not null
table destination_tunnels
  id text not null
  destination text not null
  replica_id text not null
  connected_at bigint not null
  seen_at bigint not null
table destinations
  id text not null
  name text not null
  unique_id text not null
  connection_url text not null
  connection_ca text not null
  namespaces text not null
  roles text not null
  version text not null
  last_seen_at bigint
  created_at bigint not null
  updated_at bigint not null
  connection_mode text not null default 'direct'::text
  kind text not null default 'kubernetes'::text
  ssh_address text not null default ''::text
  ssh_host_key text not null default ''::text
table device_requests
  device_code_hash text not null
  user_code text not null
  approved_by text
  approved_key_id text
  source_ip text not null
  expires_at bigint not null
  created_at bigint not null
table encryption_keys
  id text not null
  provider text not null
  wrapped text not null
  created_at bigint not null
  retired_at bigint
table grants
  id text not null
  subject_kind text not null
  subject_id text not null
  privilege text not null
  resource text not null
  destination text not null
  expires_at bigint
  managed_by text not null default 'api'::text
  created_by text
  created_at bigint not null
  request_id text
table group_members
  group_id text not null
  user_id text not null
  source text not null default 'api'::text
  created_at bigint not null
table groups
  id text not null
  name text not null
  managed_by text not null default 'api'::text
  created_at bigint not null
  updated_at bigint not null
table kube_events
  id text not null
  at bigint not null
  destination text not null
  user_id text not null
  user_name text not null
  verb text not null
  namespace text not null
  resource text not null
  status integer
  event text not null
table kube_recording_chunks
  recording_id text not null
  seq integer not null
  data text not null
table kube_recordings
  id text not null
  destination text not null
  user_id text not null
  user_name text not null
  namespace text not null
  pod text not null
  container text not null
  command text not null
  subresource text not null
  stdin_recorded integer not null
  started_at bigint not null
  ended_at bigint
  exit_code integer
table login_requests
  state_hash text not null
  provider_id text not null
  redirect_uri text not null
  nonce text not null
  code_verifier text not null
  browser_binding text
  source_ip text not null
  expires_at bigint not null
table login_throttle
  key text not null
  failures integer not null
  window_start bigint not null
  locked_until bigint not null
  updated_at bigint not null
table migrations
  name character varying not null
  timestamp character varying not null
table migrations_lock
  id character varying not null
  is_locked integer not null default 0
table provider_users
  provider_id text not null
  user_id text not null
  subject text not null
  email text not null
  groups text not null default '[]'::text
  refresh_token text
  last_sync_at bigint not null
  created_at bigint not null
table providers
  id text not null
  name text not null
  kind text not null
  issuer text not null
  client_id text not null
  client_secret text
  client_secret_ref text
  scopes text not null
  groups_claim text not null
  config text not null default '{}'::text
  private_config text
  managed_by text not null default 'api'::text
  created_at bigint not null
  updated_at bigint not null
table removed_user_keys
  key_id text not null
  secret_hash text not null
  ends_at bigint not null
table request_policies
  id text not null
  name text not null
  roles text not null
  resources text not null
  requesters text not null
  approvers text not null
  approvals_required integer not null
  max_duration bigint not null
  pending_expiry bigint not null
  reason_required integer not null
  managed_by text not null
  created_at bigint not null
  updated_at bigint not null
table revoked_sessions
  session_id text not null
  user_id text not null
  revoked_at bigint not null
table scim_groups
  group_id text not null
  provider_id text not null
  external_id text
  created integer not null
  attributes text not null
  version integer not null
  created_at bigint not null
  updated_at bigint not null
table scim_users
  user_id text not null
  provider_id text not null
  external_id text
  active integer not null
  attributes text not null
  version integer not null
  created_at bigint not null
  updated_at bigint not null
table server_replicas
  id text not null
  started_at bigint not null
  seen_at bigint not null
table settings
  name text not null
  value text not null
  updated_at bigint not null
table signing_keys
  kid text not null
  algorithm text not null
  public_jwk text not null
  private_jwk text not null
  created_at bigint not null
  retired_at bigint
table ssh_authorities
  id text not null
  purpose text not null
  public_key text not null
  private_key text not null
  created_at bigint not null
  retired_at bigint
table ssh_certificates
  serial text not null
  user_id text not null
  session_id text not null
  destination text not null
  issued_at bigint not null
  expires_at bigint not null
table ssh_logins
  user_id text not null
  login text not null
  created_at bigint not null
table users
  id text not null
  name text not null
  kind text not null default 'user'::text
  managed_by text not null default 'api'::text
  created_at bigint not null
  updated_at bigint not null
  last_seen_at bigint
  deactivated_by text
constraint access_keys.access_keys_key_id_key UNIQUE (key_id)
constraint access_keys.access_keys_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES access_keys(id) ON DELETE CASCADE
constraint access_keys.access_keys_pkey PRIMARY KEY (id)
constraint access_keys.access_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
constraint access_keys.access_keys_user_id_name UNIQUE (user_id, name)
constraint access_request_reviews.access_request_reviews_pkey PRIMARY KEY (request_id, reviewer_id)
constraint access_requests.access_requests_pkey PRIMARY KEY (id)
constraint audit_head.audit_head_pkey PRIMARY KEY (id)
constraint audit_log.audit_log_pkey PRIMARY KEY (seq)
constraint changes.changes_pkey PRIMARY KEY (idx)
constraint credentials.credentials_pkey PRIMARY KEY (user_id)
constraint credentials.credentials_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
constraint destination_tunnels.destination_tunnels_pkey PRIMARY KEY (id)
constraint destinations.destinations_name_key UNIQUE (name)
constraint destinations.destinations_pkey PRIMARY KEY (id)
constraint destinations.destinations_unique_id_key UNIQUE (unique_id)
constraint device_requests.device_requests_approved_by_fkey FOREIGN KEY (approved_by) REFERENCES users(id) ON DELETE CASCADE
constraint device_requests.device_requests_approved_key_id_fkey FOREIGN KEY (approved_key_id) REFERENCES access_keys(id) ON DELETE CASCADE
constraint device_requests.device_requests_pkey PRIMARY KEY (device_code_hash)
constraint device_requests.device_requests_user_code_key UNIQUE (user_code)
constraint encryption_keys.encryption_keys_pkey PRIMARY KEY (id)
constraint grants.grants_pkey PRIMARY KEY (id)
constraint grants.grants_subject_privilege_resource UNIQUE (subject_kind, subject_id, privilege, resource)
constraint group_members.group_members_group_id_fkey FOREIGN KEY (group_id) REFERENCES groups(id) ON DELETE CASCADE
constraint group_members.group_members_pkey PRIMARY KEY (group_id, user_id, source)
constraint group_members.group_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
constraint groups.groups_name_key UNIQUE (name)
constraint groups.groups_pkey PRIMARY KEY (id)
constraint kube_events.kube_events_pkey PRIMARY KEY (id)
constraint kube_recording_chunks.kube_recording_chunks_pkey PRIMARY KEY (recording_id, seq)
constraint kube_recordings.kube_recordings_pkey PRIMARY KEY (id)
constraint login_requests.login_requests_pkey PRIMARY KEY (state_hash)
constraint login_requests.login_requests_provider_id_fkey FOREIGN KEY (provider_id) REFERENCES providers(id) ON DELETE CASCADE
constraint login_throttle.login_throttle_pkey PRIMARY KEY (key)
constraint migrations.migrations_pkey PRIMARY KEY (name)
constraint migrations_lock.migrations_lock_pkey PRIMARY KEY (id)
constraint provider_users.provider_users_pkey PRIMARY KEY (provider_id, user_id)
constraint provider_users.provider_users_provider_id_fkey FOREIGN KEY (provider_id) REFERENCES providers(id) ON DELETE CASCADE
constraint provider_users.provider_users_provider_id_subject UNIQUE (provider_id, subject)
constraint provider_users.provider_users_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
constraint providers.providers_name_key UNIQUE (name)
constraint providers.providers_pkey PRIMARY KEY (id)
constraint removed_user_keys.removed_user_keys_pkey PRIMARY KEY (key_id)
constraint request_policies.request_policies_name_key UNIQUE (name)
constraint request_policies.request_policies_pkey PRIMARY KEY (id)
constraint revoked_sessions.revoked_sessions_pkey PRIMARY KEY (session_id)
constraint scim_groups.scim_groups_group_id_fkey FOREIGN KEY (group_id) REFERENCES groups(id) ON DELETE CASCADE
constraint scim_groups.scim_groups_pkey PRIMARY KEY (group_id)
constraint scim_groups.scim_groups_provider_id_fkey FOREIGN KEY (provider_id) REFERENCES providers(id) ON DELETE CASCADE
constraint scim_users.scim_users_pkey PRIMARY KEY (user_id)
constraint scim_users.scim_users_provider_id_fkey FOREIGN KEY (provider_id) REFERENCES providers(id) ON DELETE CASCADE
constraint scim_users.scim_users_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
constraint server_replicas.server_replicas_pkey PRIMARY KEY (id)
constraint settings.settings_pkey PRIMARY KEY (name)
constraint signing_keys.signing_keys_pkey PRIMARY KEY (kid)
constraint ssh_authorities.ssh_authorities_pkey PRIMARY KEY (id)
constraint ssh_certificates.ssh_certificates_pkey PRIMARY KEY (serial)
constraint ssh_logins.ssh_logins_login_key UNIQUE (login)
constraint ssh_logins.ssh_logins_pkey PRIMARY KEY (user_id)
constraint users.users_name_key UNIQUE (name)
constraint users.users_pkey PRIMARY KEY (id)
CREATE UNIQUE INDEX access_keys_key_id_key ON public.access_keys USING btree (key_id);
CREATE INDEX access_keys_parent_id ON public.access_keys USING btree (parent_id);
CREATE UNIQUE INDEX access_keys_pkey ON public.access_keys USING btree (id);
CREATE UNIQUE INDEX access_keys_user_id_name ON public.access_keys USING btree (user_id, name);
CREATE UNIQUE INDEX access_request_reviews_pkey ON public.access_request_reviews USING btree (request_id, reviewer_id);
CREATE UNIQUE INDEX access_requests_pkey ON public.access_requests USING btree (id);
CREATE INDEX access_requests_state ON public.access_requests USING btree (state, expires_at);
CREATE INDEX access_requests_user_id ON public.access_requests USING btree (user_id);
CREATE UNIQUE INDEX audit_head_pkey ON public.audit_head USING btree (id);
CREATE INDEX audit_log_action ON public.audit_log USING btree (action, seq);
CREATE INDEX audit_log_actor_id ON public.audit_log USING btree (actor_id, seq);
CREATE UNIQUE INDEX audit_log_pkey ON public.audit_log USING btree (seq);
CREATE INDEX audit_log_target_id ON public.audit_log USING btree (target_id, seq);
CREATE INDEX changes_destination ON public.changes USING btree (destination, idx);
CREATE UNIQUE INDEX changes_pkey ON public.changes USING btree (idx);
CREATE UNIQUE INDEX credentials_pkey ON public.credentials USING btree (user_id);
CREATE INDEX destination_tunnels_destination ON public.destination_tunnels USING btree (destination);
CREATE UNIQUE INDEX destination_tunnels_pkey ON public.destination_tunnels USING btree (id);
CREATE UNIQUE INDEX destinations_name_key ON public.destinations USING btree (name);
CREATE UNIQUE INDEX destinations_pkey ON public.destinations USING btree (id);
CREATE UNIQUE INDEX destinations_unique_id_key ON public.destinations USING btree (unique_id);
CREATE UNIQUE INDEX device_requests_pkey ON public.device_requests USING btree (device_code_hash);
CREATE UNIQUE INDEX device_requests_user_code_key ON public.device_requests USING btree (user_code);
CREATE UNIQUE INDEX encryption_keys_pkey ON public.encryption_keys USING btree (id);
CREATE INDEX grants_destination ON public.grants USING btree (destination, id);
CREATE INDEX grants_expires_at ON public.grants USING btree (expires_at);
CREATE UNIQUE INDEX grants_pkey ON public.grants USING btree (id);
CREATE INDEX grants_subject_id ON public.grants USING btree (subject_id);
CREATE UNIQUE INDEX grants_subject_privilege_resource ON public.grants USING btree (subject_kind, subject_id, privilege, resource);
CREATE UNIQUE INDEX group_members_pkey ON public.group_members USING btree (group_id, user_id, source);
CREATE INDEX group_members_user_id ON public.group_members USING btree (user_id);
CREATE UNIQUE INDEX groups_name_key ON public.groups USING btree (name);
CREATE UNIQUE INDEX groups_pkey ON public.groups USING btree (id);
CREATE INDEX kube_events_at ON public.kube_events USING btree (at, id);
CREATE INDEX kube_events_destination ON public.kube_events USING btree (destination, at);
CREATE UNIQUE INDEX kube_events_pkey ON public.kube_events USING btree (id);
CREATE INDEX kube_events_user ON public.kube_events USING btree (user_id, at);
CREATE UNIQUE INDEX kube_recording_chunks_pkey ON public.kube_recording_chunks USING btree (recording_id, seq);
CREATE UNIQUE INDEX kube_recordings_pkey ON public.kube_recordings USING btree (id);
CREATE INDEX kube_recordings_started ON public.kube_recordings USING btree (started_at, id);
CREATE UNIQUE INDEX login_requests_pkey ON public.login_requests USING btree (state_hash);
CREATE UNIQUE INDEX login_throttle_pkey ON public.login_throttle USING btree (key);
CREATE UNIQUE INDEX migrations_pkey ON public.migrations USING btree (name);
CREATE UNIQUE INDEX migrations_lock_pkey ON public.migrations_lock USING btree (id);
CREATE UNIQUE INDEX provider_users_pkey ON public.provider_users USING btree (provider_id, user_id);
CREATE UNIQUE INDEX provider_users_provider_id_subject ON public.provider_users USING btree (provider_id, subject);
CREATE INDEX provider_users_user_id ON public.provider_users USING btree (user_id);
CREATE UNIQUE INDEX providers_name_key ON public.providers USING btree (name);
CREATE UNIQUE INDEX providers_pkey ON public.providers USING btree (id);
CREATE INDEX removed_user_keys_ends_at ON public.removed_user_keys USING btree (ends_at);
CREATE UNIQUE INDEX removed_user_keys_pkey ON public.removed_user_keys USING btree (key_id);
CREATE UNIQUE INDEX request_policies_name_key ON public.request_policies USING btree (name);
CREATE UNIQUE INDEX request_policies_pkey ON public.request_policies USING btree (id);
CREATE UNIQUE INDEX revoked_sessions_pkey ON public.revoked_sessions USING btree (session_id);
CREATE INDEX revoked_sessions_revoked_at ON public.revoked_sessions USING btree (revoked_at);
CREATE UNIQUE INDEX scim_groups_pkey ON public.scim_groups USING btree (group_id);
CREATE INDEX scim_groups_provider_id_external_id ON public.scim_groups USING btree (provider_id, external_id);
CREATE UNIQUE INDEX scim_users_pkey ON public.scim_users USING btree (user_id);
CREATE INDEX scim_users_provider_id_external_id ON public.scim_users USING btree (provider_id, external_id);
CREATE UNIQUE INDEX server_replicas_pkey ON public.server_replicas USING btree (id);
CREATE UNIQUE INDEX settings_pkey ON public.settings USING btree (name);
CREATE UNIQUE INDEX signing_keys_pkey ON public.signing_keys USING btree (kid);
CREATE UNIQUE INDEX ssh_authorities_pkey ON public.ssh_authorities USING btree (id);
CREATE INDEX ssh_certificates_destination ON public.ssh_certificates USING btree (destination, expires_at);
CREATE UNIQUE INDEX ssh_certificates_pkey ON public.ssh_certificates USING btree (serial);
CREATE UNIQUE INDEX ssh_logins_login_key ON public.ssh_logins USING btree (login);
CREATE UNIQUE INDEX ssh_logins_pkey ON public.ssh_logins USING btree (user_id);
CREATE UNIQUE INDEX users_name_key ON public.users USING btree (name);
CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id);
