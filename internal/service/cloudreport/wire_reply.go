package cloudreport

// Wire format: reply lines of both dialects.

import (
	"strconv"
)

// Reply bytes shared by both dialects.
func initReply(key string, keyLen int) []byte {
	return []byte("200-KEY=" + key + "\r\n200 LEN=" + strconv.Itoa(keyLen) + "\r\n")
}

func dataReply(d Dialect, data string) []byte {
	return []byte(dataReplyPrefix(d) + data + "\r\n")
}

// dataReplyPrefix is what precedes the DATA= text of a data reply.
func dataReplyPrefix(d Dialect) string {
	if d == Delphi {
		return "200 DATA="
	}
	return "200 OK\r\nDATA="
}

func pongReply(d Dialect) []byte {
	if d == Delphi {
		return []byte("200\r\n")
	}
	return []byte("PONG\r\n")
}

func okReply(d Dialect) []byte {
	if d == Delphi {
		return []byte("200\r\n")
	}
	return []byte("200 OK\r\n")
}

// failure is one error reply kind.
type failure int

const (
	failNotInit failure = iota
	failInitFormat
	failInitID
	failHostEmpty
	failDuplicate
	failDecrypt
	failMissingData
	failNotFound
	failNotAuth
	failBadName
	failUnknown
	failVers
	failDwnl
	failErrl
	failInternal
)

// errorReply renders a failure; arg is the ID or command the text names.
// Seed texts are the seed's exact strings; Delphi codes follow the numeric
// table of the original (docs/cloudreport.md, "Replies of the other versions").
func errorReply(d Dialect, f failure, arg string) []byte {
	var code, text string
	switch f {
	case failNotInit:
		code, text = "510", "Client not initialized. Send INIT command first."
	case failInitFormat:
		code, text = "510", "Invalid INIT command format. Use: INIT ID=x"
	case failInitID:
		code, text = "510", "Invalid client ID. Must be a number."
		if d == Delphi {
			code, text = "501", "Invalid client ID: "+arg
		}
	case failHostEmpty:
		code, text = "501", "Hostname is empty"
	case failDuplicate:
		code, text = "511", "Client ID "+arg+" already connected. Please try again later."
	case failDecrypt:
		code, text = "504", "Failed to decrypt data"
	case failMissingData:
		code, text = "502", "Missing DATA parameter"
	case failNotFound:
		code, text = "502", "Error object not found"
	case failNotAuth:
		code, text = "530", "Client not authenticated. Send INFO command first."
	case failBadName:
		code, text = "530", "Invalid file name"
	case failUnknown:
		code, text = "503", "Unknown command: "+arg
	case failVers:
		code, text = "530", "Error processing VERS command: updates unavailable"
	case failDwnl:
		code, text = "530", "Error processing DWNL command: updates unavailable"
	case failErrl:
		// The seed's "Error processing ERRL command: <exception>" without
		// the exception; 520 is the original's "receive report error".
		code, text = "520", "Error processing ERRL command: report not stored"
	default:
		code, text = "500", "Internal server error"
	}
	if d == Delphi {
		return []byte(code + " " + text + "\r\n")
	}
	return []byte("ERROR " + text + "\r\n")
}
