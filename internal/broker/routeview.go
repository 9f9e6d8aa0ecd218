package broker

// routeView is a read-only index of one mesh's live, non-ephemeral
// sessions on this node, for routing. The hub builds it on the first send
// after a connect or disconnect and drops it on the next one, so a send
// neither copies the session table nor scans it per target. Sessions in it
// may have ended since: dispatch looks each recipient up again after the
// commit (hub.lookup), as it always did. The hub's cached view holds only
// this node's sockets; the resolver indexes other nodes' sessions
// (cluster.remoteSessions) per send with indexSessions.
type routeView struct {
	sessions []*session
	byKey    map[string]*session   // session pubkey -> session (proven keys only)
	byMember map[string][]*session // member id -> its sessions
}

func buildRouteView(live map[memberSession]*session) *routeView {
	list := make([]*session, 0, len(live))
	for _, s := range live {
		list = append(list, s)
	}
	return indexSessions(list)
}

// indexSessions indexes the non-ephemeral sessions of list; where two share
// a session key, the first one listed wins.
func indexSessions(list []*session) *routeView {
	if len(list) == 0 {
		return emptyRouteView
	}
	v := &routeView{
		sessions: make([]*session, 0, len(list)),
		byKey:    make(map[string]*session, len(list)),
		byMember: make(map[string][]*session, len(list)),
	}
	for _, s := range list {
		if s.ephemeral {
			continue
		}
		v.sessions = append(v.sessions, s)
		if _, taken := v.byKey[s.sessionPubkey]; s.sessionPubkey != "" && !taken {
			v.byKey[s.sessionPubkey] = s
		}
		v.byMember[s.member.ID] = append(v.byMember[s.member.ID], s)
	}
	return v
}

var emptyRouteView = &routeView{}

// routeView returns the mesh's current view (shared: read only).
func (h *hub) routeView(meshID string) *routeView {
	h.mu.RLock()
	m := h.meshes[meshID]
	var v *routeView
	if m != nil {
		v = m.view
	}
	h.mu.RUnlock()
	if v != nil {
		return v
	}
	if m == nil {
		return emptyRouteView
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.view == nil {
		m.view = buildRouteView(m.live)
	}
	return m.view
}
