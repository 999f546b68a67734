package repair

// The quirks the layer repairs. README.md says what each one is and why it
// is safe to repair.
const (
	// message syntax
	QLineEnding    Quirk = "line ending without CR"
	QStatusLine    Quirk = "non-standard status line"
	QFoldedHeader  Quirk = "folded header line"
	QHeaderNoColon Quirk = "header line without colon"
	QHeaderSpacing Quirk = "space before header colon"

	// headers
	QCSeq          Quirk = "answer with unknown CSeq"
	QContentLength Quirk = "malformed Content-Length"
	QSession       Quirk = "malformed Session header"
	QWWWAuth       Quirk = "malformed WWW-Authenticate"
	QContentType   Quirk = "DESCRIBE answer without application/sdp Content-Type"
	QContentBase   Quirk = "unusable Content-Base"
	QLocation      Quirk = "unusable Location"

	// SETUP answers
	QNoInterleaved   Quirk = "SETUP answer without interleaved="
	QBadInterleaved  Quirk = "SETUP answer with unusable interleaved="
	QTCPProfile      Quirk = "SETUP answer with UDP profile for interleaved TCP"
	QPorts           Quirk = "SETUP answer with junk in client_port/server_port"
	QTransportSyntax Quirk = "malformed Transport header"
	QTransportMulti  Quirk = "SETUP answer with several transports"

	// SDP bodies
	QSDPBareCR        Quirk = "SDP with bare CR line endings"
	QSDPBOM           Quirk = "SDP with byte-order mark"
	QSDPNul           Quirk = "SDP with NUL bytes"
	QSDPLeadingSpace  Quirk = "SDP line with leading whitespace"
	QSDPTrailingSpace Quirk = "SDP line with trailing whitespace"
	QSDPJunkLine      Quirk = "SDP line that is not key=value"
	QSDPVersion       Quirk = "SDP with odd v= line"
	QSDPMisplaced     Quirk = "SDP session line inside a media section"
	QSDPUnknownKey    Quirk = "SDP line with unknown key"
	QSDPMediaLine     Quirk = "SDP with malformed m= line"
	QSDPMediaDropped  Quirk = "SDP media gortsplib cannot use: dropped"
	QSDPFormatDropped Quirk = "SDP format gortsplib cannot use: dropped"
	QSDPRtpmapPT      Quirk = "SDP rtpmap for a payload type not in m="
	QSDPSprop         Quirk = "SDP with undecodable H.264/H.265 parameter sets"
	QSDPFmtp          Quirk = "SDP fmtp parameter gortsplib rejects"
	QSDPOpus          Quirk = "SDP Opus rtpmap not opus/48000/2"
	QSDPMid           Quirk = "SDP with unusable a=mid"
	QSDPKeyMgmt       Quirk = "SDP with unusable a=key-mgmt"
	QSDPControl       Quirk = "SDP a=control gortsplib cannot parse"

	// SDP lines gortsplib's parser refuses for their value; playback
	// needs none of them, so they are dropped
	QSDPOrigin     Quirk = "SDP with malformed o= line"
	QSDPConnection Quirk = "SDP with malformed c= line"
	QSDPBandwidth  Quirk = "SDP with malformed b= line"
	QSDPTiming     Quirk = "SDP with malformed t= line"
	QSDPRepeat     Quirk = "SDP with malformed r= line"
	QSDPTimeZone   Quirk = "SDP with malformed z= line"
	QSDPURI        Quirk = "SDP with malformed u= line"
)

// sdpMalformed names a line of kind key that gortsplib refuses.
func sdpMalformed(key byte) Quirk {
	switch key {
	case 'o':
		return QSDPOrigin
	case 'c':
		return QSDPConnection
	case 'b':
		return QSDPBandwidth
	case 't':
		return QSDPTiming
	case 'r':
		return QSDPRepeat
	case 'z':
		return QSDPTimeZone
	case 'u':
		return QSDPURI
	}
	return QSDPJunkLine // no other kind has values gortsplib can refuse
}
