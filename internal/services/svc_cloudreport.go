package services

import (
	"gatehouse/internal/blob"
	"gatehouse/internal/config"
	"gatehouse/internal/service/cloudreport"
)

// CloudreportUpdateStore is cloudreport.UpdateStore for the daemon's
// config cfg ('gatehouse admin cloudreport publish' uses it).
func CloudreportUpdateStore(cfg *config.Config, svcBlob blob.Store) (blob.Store, string, error) {
	return cloudreport.UpdateStore(cfg.Services.Cloudreport.Updates, cfg.DataDir, cfg.Blob.URL != "", svcBlob)
}
