-- Argo CD health check for platform.tenantai.io/Tenant.
-- Source of truth: config/argocd/tenant.lua; argocd-cm-patch.yaml embeds it
-- verbatim (test/gitops fails when they differ). It uses only Lua's base
-- library, so it runs without resource.customizations.useOpenLibs.
--
-- Progressing  the controller has not observed the current generation, or is
--              still working (Reconciling=True, or Ready not yet True):
--              namespaces, guardrails and RBAC are being put in place.
-- Degraded     Stalled=True: a terminal problem the operator cannot fix by
--              retrying (NamespaceConflict, AdoptionRequired, ForbiddenSubject,
--              KeyMissing, KeyConflict, HostnameConflict); its message
--              says what to do.
-- Healthy      Ready=True at the current generation.
local hs = {}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

-- status.observedGeneration is -1 (a schema default) until the operator first
-- writes status: a just-created object is Progressing until the operator has
-- seen it, and a changed spec until the operator has acted on it.
local observed = nil
if obj.status ~= nil then
  observed = obj.status.observedGeneration
end
if observed ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to observe generation " .. tostring(obj.metadata.generation)
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end

hs.status = "Progressing"
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.message
elseif ready ~= nil then
  hs.message = ready.message
else
  hs.message = "waiting for the Ready condition"
end
return hs
