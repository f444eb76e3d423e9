{{- define "aperture.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aperture.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "aperture.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "aperture.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aperture
{{- end -}}

{{- define "aperture.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aperture.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "aperture.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aperture.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "aperture.centralName" -}}
{{- printf "%s-central" (include "aperture.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aperture.centralSelectorLabels" -}}
app.kubernetes.io/name: {{ include "aperture.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: central
{{- end -}}

{{- define "aperture.centralLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "aperture.centralSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aperture
{{- end -}}

{{- /* The central runtime's HTTP address inside the cluster: what the operator's --central-url is. */ -}}
{{- define "aperture.centralUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "aperture.centralName" .) .Release.Namespace .Values.central.ports.http -}}
{{- end -}}
