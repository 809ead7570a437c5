/** Client-safe entry: the route table and URL builder. Imports nothing from the server. */
export { routes, routesByName, matchRoute, requiredAccess, type RouteName, type RouteDefinition, type RouteParams, type RouteMatch, type HttpMethod } from './table.js'
export { buildPath, baseURL, UrlBuilder, type Query, type QueryValue, type RequestOrigin, type UrlBuilderOptions } from './url-builder.js'
export { formatScope, type Access } from './access.js'
