import type { HttpMethod, RouteName } from './table.js'
import type { RouteHandler } from './handler.js'
import { getBase } from './base.js'
import { deleteBlob, getBlob } from './blobs.js'
import { listCatalog } from './catalog.js'
import { deleteManifest, getManifest, putManifest } from './manifests.js'
import { listReferrers } from './referrers.js'
import { listTags } from './tags.js'
import { cancelUpload, finishUpload, getUploadStatus, patchUpload, startUpload } from './uploads.js'

/** Which handler serves each route and method of the table. */
export const handlers: Record<RouteName, Partial<Record<HttpMethod, RouteHandler>>> = {
  base: { GET: getBase, HEAD: getBase },
  catalog: { GET: listCatalog },
  tags: { GET: listTags },
  manifest: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest },
  blob: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob },
  'blob-upload': { POST: startUpload },
  'blob-upload-chunk': { GET: getUploadStatus, PATCH: patchUpload, PUT: finishUpload, DELETE: cancelUpload },
  referrers: { GET: listReferrers }
}
