{{/*
The manager's fixed identity: the admission policies and RBAC shipped with
the chart (generated from config/) name exactly this namespace and service
account, so the chart cannot be installed anywhere else.
*/}}
{{- define "tenantai.namespace" -}}tenantai-system{{- end }}
{{- define "tenantai.name" -}}tenantai-controller-manager{{- end }}

{{- define "tenantai.checkNamespace" -}}
{{- if ne .Release.Namespace (include "tenantai.namespace" .) }}
{{- fail (printf "tenantai must be installed in namespace %s (got %q): its admission policies trust exactly system:serviceaccount:%s:%s; use --namespace %s --create-namespace" (include "tenantai.namespace" .) .Release.Namespace (include "tenantai.namespace" .) (include "tenantai.name" .) (include "tenantai.namespace" .)) }}
{{- end }}
{{- end }}

{{/* Labels that select the manager's pods; the same as dist/install.yaml's, so a Deployment can move between the two install paths (a selector is immutable). */}}
{{- define "tenantai.selectorLabels" -}}
app.kubernetes.io/name: tenantai
control-plane: controller-manager
{{- end }}

{{- define "tenantai.labels" -}}
{{ include "tenantai.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tenantai.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The metrics port, taken from metrics.bindAddress (host:port). */}}
{{- define "tenantai.metricsPort" -}}
{{- $port := splitList ":" .Values.metrics.bindAddress | last }}
{{- if not (regexMatch "^[0-9]+$" $port) }}
{{- fail (printf "metrics.bindAddress %q has no port: want host:port, e.g. \":8443\"" .Values.metrics.bindAddress) }}
{{- end }}
{{- $port }}
{{- end }}

{{- define "tenantai.checkReplicas" -}}
{{- if and (not .Values.leaderElection.enabled) (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: replicas would reconcile at the same time; set replicaCount to 1 or enable leader election" (int .Values.replicaCount)) }}
{{- end }}
{{- end }}

{{/* validationActions of the bindings of the admission policies an upgrade adds (labelled platform.tenantai.io/staged): Warn and Audit while guardrails.mode is Warn. */}}
{{- define "tenantai.stagedValidationActions" -}}
{{- if eq .Values.guardrails.mode "Warn" }}
- Warn
- Audit
{{- else }}
- Deny
{{- end }}
{{- end }}
