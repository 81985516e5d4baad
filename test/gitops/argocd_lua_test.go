package gitops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// argoHealth is what an Argo CD health check returns: hs.status and
// hs.message.
type argoHealth struct {
	Status  string
	Message string
}

// argoHealthCodes are the statuses Argo CD accepts from a health script; it
// turns anything else into Unknown.
var argoHealthCodes = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

// healthScripts maps each kind to its Argo CD health check in config/argocd.
var healthScripts = map[string]string{
	"Tenant":          "tenant.lua",
	"TenantQuota":     "tenantquota.lua",
	"ModelDeployment": "modeldeployment.lua",
}

// readHealthScript reads the Argo CD health check of a kind.
func readHealthScript(root, kind string) (string, error) {
	file, ok := healthScripts[kind]
	if !ok {
		return "", fmt.Errorf("no Argo CD health check for kind %q in config/argocd", kind)
	}
	data, err := os.ReadFile(filepath.Join(root, "config", "argocd", file))
	return string(data), err
}

// runHealthScript runs a health check the way Argo CD runs one from argocd-cm
// (argo-cd util/lua): a Lua state with only the package, base and table
// libraries (custom checks run without useOpenLibs, so string.format and
// friends would fail there), the object as the global obj, a one-second
// limit, and a table as the result.
func runHealthScript(script string, obj *unstructured.Unstructured) (argoHealth, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			return argoHealth{}, fmt.Errorf("opening Lua library %q: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj.Object))
	if err := l.DoString(script); err != nil {
		return argoHealth{}, fmt.Errorf("running the health check: %w", err)
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return argoHealth{}, fmt.Errorf("the health check returned %s, Argo CD expects a table", l.Get(-1).Type())
	}
	h := argoHealth{Status: luaString(table.RawGetString("status")), Message: luaString(table.RawGetString("message"))}
	if !argoHealthCodes[h.Status] {
		return h, fmt.Errorf("the health check returned status %q, which Argo CD turns into Unknown", h.Status)
	}
	return h, nil
}

func luaString(v lua.LValue) string {
	if s, ok := v.(lua.LString); ok {
		return string(s)
	}
	return ""
}

// toLua converts a decoded object into Lua values as Argo CD does: maps to
// tables keyed by string, lists to 1-based arrays, numbers (int64 from the
// API server, float64 from JSON) to Lua numbers, json.Number to a string.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(l, item))
		}
		return tbl
	}
	return lua.LNil
}
