{{/*
The release's base name: the release name, or release-chart. At most 47
characters: a StatefulSet's name (this and -meta) must leave room for the
revision hash in its pods' 63-character label values.
*/}}
{{- define "palisade.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 47 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "palisade.meta" -}}{{ include "palisade.fullname" . }}-meta{{- end -}}
{{- define "palisade.data" -}}{{ include "palisade.fullname" . }}-data{{- end -}}
{{- define "palisade.secretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "palisade.fullname" .)) -}}
{{- end -}}

{{- define "palisade.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag: give a fixed tag, not latest (a restarted pod must run the binaries its peers run)" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{/* Labels: selectorLabels take the component (meta, data, test). */}}
{{- define "palisade.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}
{{- define "palisade.labels" -}}
{{ include "palisade.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* A host's DNS name: <pod>.<service>.<namespace>.svc.<domain>. */}}
{{- define "palisade.domain" -}}
{{- printf "%s.svc.%s" .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* The meta nodes' addresses on port .port, comma-separated, from the replica count. */}}
{{- define "palisade.metaAddrs" -}}
{{- $root := .root -}}
{{- $meta := include "palisade.meta" $root -}}
{{- $addrs := list -}}
{{- range $i := until (int $root.Values.meta.replicas) -}}
{{- $addrs = append $addrs (printf "%s-%d.%s.%s:%d" $meta $i $meta (include "palisade.domain" $root) (int $.port)) -}}
{{- end -}}
{{- join "," $addrs -}}
{{- end -}}

{{/*
The auth Secret's values, base64, as JSON. Explicit values win; otherwise
those already in the cluster's Secret (so an upgrade keeps generated ones);
otherwise new random ones. Computed once per render and remembered, so the
Secret and the pods' checksum see the same values.
*/}}
{{- define "palisade.authData" -}}
{{- if not (hasKey .Values.auth "__resolved") -}}
{{- $old := dict -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "palisade.secretName" .) -}}
{{- if $existing -}}{{- $old = $existing.data | default dict -}}{{- end -}}
{{- $a := .Values.auth -}}
{{- $d := dict -}}
{{- $_ := set $d "admin-username" ($a.adminUser | b64enc) -}}
{{- $_ := set $d "admin-password" (($a.adminPassword | b64enc) | default (get $old "admin-password") | default (randAlphaNum 24 | b64enc)) -}}
{{- $_ := set $d "internal-shared-secret" (($a.internalSharedSecret | b64enc) | default (get $old "internal-shared-secret") | default (randAlphaNum 48 | b64enc)) -}}
{{- $_ := set $d "jwt-shared-secret" (($a.jwtSharedSecret | b64enc) | default (get $old "jwt-shared-secret") | default (randAlphaNum 48 | b64enc)) -}}
{{- $_ := set .Values.auth "__resolved" $d -}}
{{- end -}}
{{- toJson (get .Values.auth "__resolved") -}}
{{- end -}}

{{/*
Changes when what the data pods authenticate with changes, so `helm upgrade`
rolls them (one at a time) for a new secret too, not only for auth.enabled.
With existingSecret the chart cannot see the values: restart the pods after
changing that Secret (kubectl rollout restart).
*/}}
{{- define "palisade.authChecksum" -}}
{{- $in := dict "enabled" .Values.auth.enabled "existingSecret" .Values.auth.existingSecret -}}
{{- if not .Values.auth.existingSecret -}}
{{- $_ := set $in "data" (include "palisade.authData" .) -}}
{{- end -}}
{{- toJson $in | sha256sum -}}
{{- end -}}

{{/* Changes with the internal shared secret only: rolls the meta pods. */}}
{{- define "palisade.internalChecksum" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret | sha256sum -}}
{{- else -}}
{{- get (include "palisade.authData" . | fromJson) "internal-shared-secret" | sha256sum -}}
{{- end -}}
{{- end -}}

{{- define "palisade.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "palisade.secretName" .root }}
      key: {{ .key }}
{{- end -}}

{{/* POD_NAME and POD_NAMESPACE, for the identity variables. */}}
{{- define "palisade.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{- define "palisade.affinity" -}}
{{- $mode := .mode -}}
{{- if eq $mode "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "palisade.selectorLabels" . | nindent 12 }}
{{- else if eq $mode "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "palisade.selectorLabels" . | nindent 10 }}
{{- else if ne $mode "none" -}}
{{- fail (printf "podAntiAffinity: %q is not soft, hard or none" $mode) -}}
{{- end -}}
{{- end -}}

{{/*
TLS between the nodes. The Secret's name: tls.existingSecret, or the one
the cert-manager Certificate writes. Fails on values that cannot work.
*/}}
{{- define "palisade.tlsSecretName" -}}
{{- $t := .Values.tls -}}
{{- if $t.certManager.enabled -}}
{{- if $t.existingSecret -}}
{{- fail "tls.existingSecret and tls.certManager.enabled: give one (the Certificate writes its own Secret)" -}}
{{- end -}}
{{- if not $t.certManager.issuerRef.name -}}
{{- fail "tls.certManager.issuerRef.name: name the cert-manager Issuer or ClusterIssuer that signs the nodes' certificate" -}}
{{- end -}}
{{- printf "%s-tls" (include "palisade.fullname" .) -}}
{{- else if $t.existingSecret -}}
{{- $t.existingSecret -}}
{{- else if $t.enabled -}}
{{- fail "tls.enabled: give tls.existingSecret (a Secret with tls.crt, tls.key and ca.crt) or set tls.certManager.enabled" -}}
{{- end -}}
{{- end -}}

{{/* The names the nodes' certificate must be valid for: every pod of both StatefulSets. */}}
{{- define "palisade.tlsDNSNames" -}}
- {{ printf "*.%s.%s" (include "palisade.meta" .) (include "palisade.domain" .) | quote }}
- {{ printf "*.%s.%s" (include "palisade.data" .) (include "palisade.domain" .) | quote }}
{{- end -}}

{{/*
Where the Secret is mounted. ca.crt goes into a directory of its own, so that
SSL_CERT_FILE and SSL_CERT_DIR name it alone: the nodes have no setting for
a CA file and verify their peers against Go's system roots, which these
variables replace (the image's public CAs are then not trusted for peers).
*/}}
{{- define "palisade.tlsDir" -}}/etc/palisade/tls{{- end -}}

{{/*
The Secret as a volume: .keys lists the keys to project (the test pod gets
ca.crt only, never the private key).
*/}}
{{- define "palisade.tlsVolume" -}}
- name: tls
  secret:
    secretName: {{ include "palisade.tlsSecretName" .root }}
    defaultMode: 0440
    items:
      {{- range .keys }}
      - key: {{ . }}
        path: {{ if eq . "ca.crt" }}ca/{{ end }}{{ . }}
      {{- end }}
{{- end -}}

{{- define "palisade.tlsMount" -}}
- name: tls
  mountPath: {{ include "palisade.tlsDir" . }}
  readOnly: true
{{- end -}}

{{/* Trust the Secret's ca.crt, and only it, for the peers' certificates. */}}
{{- define "palisade.tlsTrustEnv" -}}
- name: SSL_CERT_FILE
  value: {{ include "palisade.tlsDir" . }}/ca/ca.crt
- name: SSL_CERT_DIR
  value: {{ include "palisade.tlsDir" . }}/ca
{{- end -}}

{{/*
[http] pprof-enabled of the data nodes: /debug/pprof/ only while auth is on
(then for admins), never on an API anyone may call.
*/}}
{{- define "palisade.pprofEnabled" -}}
{{- if and .Values.auth.enabled .Values.data.pprof -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{/*
extraEnv must not override what the chart derives from its values: pprof
and auth are rendered together, so that pprof is never on without auth.
*/}}
{{- define "palisade.extraEnv" -}}
{{- range .env -}}
{{- if and (eq $.kind "data") (has .name (list "INFLUXDB_HTTP_AUTH_ENABLED" "INFLUXDB_HTTP_PPROF_ENABLED")) -}}
{{- fail (printf "%s.extraEnv: %s is set by the chart from auth.enabled and data.pprof (pprof is never on without auth): use those values" $.kind .name) -}}
{{- end -}}
{{- end -}}
{{- toYaml .env -}}
{{- end -}}
